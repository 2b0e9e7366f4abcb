"""The engine's database schema (SQLAlchemy Core). Alembic migrations are generated from it.

Integrity lives in the database, not only in Python: unique active MSISDN/IMSI/handset per
subscriber (partial unique indexes), unique voucher serial and PIN hash, unique CDR id, one bill
per subscriber and period start, gapless invoice numbers, non-null money columns.
Money columns are BigInteger minor units, suffixed ``_minor``. Timestamps are naive UTC.
"""

from __future__ import annotations

from sqlalchemy import (
    BigInteger,
    CheckConstraint,
    Column,
    Date,
    DateTime,
    ForeignKey,
    Index,
    Integer,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(table_name)s_%(column_0_N_name)s",
        "uq": "uq_%(table_name)s_%(column_0_N_name)s",
        "ck": "ck_%(table_name)s_%(constraint_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer, "sqlite")  # SQLite autoincrements INTEGER PRIMARY KEY only

# --- Reference data (the original's REF_Service, REF_Billcycle, REF_Price_plan) -------------

services = Table(
    "ref_services",
    metadata,
    Column("id", String(16), primary_key=True),
    Column("name", String(100), nullable=False),
    Column("unit", String(16), nullable=False),
    CheckConstraint("unit IN ('SECOND', 'MESSAGE', 'BYTE')", name="unit"),
)

bill_cycles = Table(
    "ref_bill_cycles",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("name", String(100), nullable=False),
    Column("cycle_day", Integer, nullable=False),
    CheckConstraint("cycle_day BETWEEN 1 AND 28", name="cycle_day"),
)

price_plans = Table(
    "ref_price_plans",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=False),
    Column("code", String(40), nullable=False, unique=True),
    Column("name", String(100), nullable=False),
    Column("description", Text, nullable=False, server_default=""),
    Column("payment_type", String(16), nullable=False),
    Column("currency", String(3), nullable=False),
    Column("monthly_fee_minor", BigInteger, nullable=False),
    Column("initial_credit_minor", BigInteger, nullable=False),
    Column("peak_weekdays", String(20), nullable=True),  # "0,1,2,3,4"; NULL = no peak band
    Column("peak_start", String(5), nullable=True),  # "08:00"
    Column("peak_end", String(5), nullable=True),  # "20:00"
    CheckConstraint("payment_type IN ('PREPAID', 'POSTPAID')", name="payment_type"),
    CheckConstraint("monthly_fee_minor >= 0 AND initial_credit_minor >= 0", name="money"),
)

tariffs = Table(
    "ref_tariffs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("price_plan_id", ForeignKey("ref_price_plans.id", ondelete="CASCADE"), nullable=False),
    Column("service_id", ForeignKey("ref_services.id"), nullable=False),
    Column("zone", String(16), nullable=False),
    Column("band", String(8), nullable=False),
    Column("strategy", String(16), nullable=False),
    Column("unit_price_minor", BigInteger, nullable=False),
    Column("price_unit", BigInteger, nullable=False),
    Column("increment", BigInteger, nullable=False),
    Column("minimum_quantity", BigInteger, nullable=False),
    Column("minimum_charge_minor", BigInteger, nullable=False),
    UniqueConstraint("price_plan_id", "service_id", "zone", "band"),
    CheckConstraint("price_unit > 0 AND increment > 0 AND minimum_quantity >= 0", name="units"),
    CheckConstraint("unit_price_minor >= 0 AND minimum_charge_minor >= 0", name="money"),
)

allowances = Table(
    "ref_allowances",
    metadata,
    Column("id", Id, primary_key=True),
    Column("price_plan_id", ForeignKey("ref_price_plans.id", ondelete="CASCADE"), nullable=False),
    Column("service_id", ForeignKey("ref_services.id"), nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("zones", String(64), nullable=False),  # "NATIONAL,ROAMING"
    UniqueConstraint("price_plan_id", "service_id"),
    CheckConstraint("quantity > 0", name="quantity"),
)

# --- Network resource inventory --------------------------------------------------------------

resources = Table(
    "resources",
    metadata,
    Column("id", Id, primary_key=True),
    Column("type", String(8), nullable=False),  # MSISDN, IMSI, HANDSET
    Column("value", String(20), nullable=False),
    Column("model", String(100), nullable=False, server_default=""),
    Column("status", String(12), nullable=False, server_default="FREE"),
    Column("subscriber_id", BigInteger, nullable=True),
    Column("available_at", DateTime, nullable=True),  # end of quarantine for a released MSISDN
    Column("created_at", DateTime, nullable=False),
    UniqueConstraint("type", "value"),
    CheckConstraint("type IN ('MSISDN', 'IMSI', 'HANDSET')", name="type"),
    CheckConstraint("status IN ('FREE', 'ASSIGNED', 'QUARANTINE')", name="status"),
    Index("ix_resources_type_status_value", "type", "status", "value"),
)

# --- Subscribers and balances ----------------------------------------------------------------

subscribers = Table(
    "subscribers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("status", String(12), nullable=False),
    Column("payment_type", String(16), nullable=False),
    Column("price_plan_id", ForeignKey("ref_price_plans.id"), nullable=False),
    Column("bill_cycle_id", ForeignKey("ref_bill_cycles.id"), nullable=True),
    Column("msisdn", String(15), nullable=False),
    Column("imsi", String(15), nullable=False),
    Column("handset_imei", String(15), nullable=True),
    Column("identity_hash", String(64), nullable=False),  # HMAC-SHA256 of the full number
    Column("identity_last4", String(4), nullable=False),
    Column("first_name", String(100), nullable=False),
    Column("last_name", String(100), nullable=False),
    Column("date_of_birth", Date, nullable=False),
    Column("street", String(200), nullable=False),
    Column("city", String(100), nullable=False),
    Column("postal_code", String(20), nullable=False),
    Column("country", String(2), nullable=False),
    Column("email", String(254), nullable=False),
    Column("contact_phone", String(20), nullable=False),
    Column("payment_method", String(16), nullable=False),
    Column("card_reference", String(100), nullable=False, server_default=""),
    Column("card_last4", String(4), nullable=False, server_default=""),
    Column("iban", String(34), nullable=False, server_default=""),
    Column("account_holder", String(200), nullable=False, server_default=""),
    Column("activated_at", DateTime, nullable=False),
    Column("terminated_at", DateTime, nullable=True),
    # Start of the first period not yet billed (postpaid); moves forward with every bill.
    Column("billed_until", DateTime, nullable=False),
    Column("created_by", String(150), nullable=False, server_default=""),
    CheckConstraint("status IN ('ACTIVE', 'TERMINATED')", name="status"),
    CheckConstraint("payment_type IN ('PREPAID', 'POSTPAID')", name="payment_type"),
    CheckConstraint(
        "(payment_type = 'POSTPAID' AND bill_cycle_id IS NOT NULL)"
        " OR (payment_type = 'PREPAID' AND bill_cycle_id IS NULL)",
        name="bill_cycle",
    ),
    # One active holder per resource, enforced by the database even if two creates race.
    Index(
        "uq_subscribers_active_msisdn",
        "msisdn",
        unique=True,
        sqlite_where=text("status = 'ACTIVE'"),
        postgresql_where=text("status = 'ACTIVE'"),
    ),
    Index(
        "uq_subscribers_active_imsi",
        "imsi",
        unique=True,
        sqlite_where=text("status = 'ACTIVE'"),
        postgresql_where=text("status = 'ACTIVE'"),
    ),
    Index(
        "uq_subscribers_active_handset",
        "handset_imei",
        unique=True,
        sqlite_where=text("status = 'ACTIVE' AND handset_imei IS NOT NULL"),
        postgresql_where=text("status = 'ACTIVE' AND handset_imei IS NOT NULL"),
    ),
    Index("ix_subscribers_last_name", "last_name"),
    Index("ix_subscribers_identity_last4", "identity_last4"),
    Index("ix_subscribers_bill_cycle_id_status", "bill_cycle_id", "status"),
)

balances = Table(
    "balances",
    metadata,
    Column("subscriber_id", ForeignKey("subscribers.id"), primary_key=True),
    Column("currency", String(3), nullable=False),
    Column("amount_minor", BigInteger, nullable=False),
    Column("updated_at", DateTime, nullable=False),
)

allowance_balances = Table(
    "allowance_balances",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subscriber_id", ForeignKey("subscribers.id"), nullable=False),
    Column("service_id", ForeignKey("ref_services.id"), nullable=False),
    Column("period_start", DateTime, nullable=False),
    Column("period_end", DateTime, nullable=False),
    Column("granted", BigInteger, nullable=False),
    Column("used", BigInteger, nullable=False, server_default="0"),
    UniqueConstraint("subscriber_id", "service_id", "period_start"),
    CheckConstraint("used >= 0 AND used <= granted", name="used"),
)

# --- Vouchers ------------------------------------------------------------------------------

vouchers = Table(
    "vouchers",
    metadata,
    Column("id", Id, primary_key=True),
    Column("serial", String(32), nullable=False, unique=True),
    Column("batch", String(64), nullable=False),
    Column("pin_hash", String(64), nullable=False, unique=True),
    Column("value_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("state", Integer, nullable=False),
    Column("created_at", DateTime, nullable=False),
    Column("expires_at", DateTime, nullable=True),
    Column("state_changed_at", DateTime, nullable=False),
    Column("state_reason", String(500), nullable=False, server_default=""),
    Column("redeemed_by_subscriber_id", ForeignKey("subscribers.id"), nullable=True),
    Column("redeemed_at", DateTime, nullable=True),
    Column("redeemed_by_actor", String(150), nullable=False, server_default=""),
    CheckConstraint("state IN (1, 2, 3)", name="state"),
    CheckConstraint("value_minor > 0", name="value"),
    Index("ix_vouchers_batch_state", "batch", "state"),
)

# Failed attempts (wrong PINs), counted in a sliding window to throttle guessing.
throttle_events = Table(
    "throttle_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("key", String(200), nullable=False),
    Column("at", DateTime, nullable=False),
    Index("ix_throttle_events_key_at", "key", "at"),
)

audit_events = Table(
    "audit_events",
    metadata,
    Column("id", Id, primary_key=True),
    Column("at", DateTime, nullable=False),
    Column("actor", String(150), nullable=False),
    Column("action", String(64), nullable=False),
    Column("target", String(200), nullable=False),
    Column("result", String(16), nullable=False),  # OK, DENIED, FAILED
    Column("details", Text, nullable=False, server_default=""),  # JSON; never a PIN or full id
    Column("request_id", String(64), nullable=False, server_default=""),
    Index("ix_audit_events_at", "at"),
    Index("ix_audit_events_target", "target"),
)

# --- Usage --------------------------------------------------------------------------------

rated_cdrs = Table(
    "rated_cdrs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("cdr_id", String(100), nullable=False, unique=True),  # exactly-once guard
    Column("subscriber_id", BigInteger, nullable=False),  # no FK: bulk path, checked by loader
    Column("service_id", String(16), nullable=False),
    Column("started_at", DateTime, nullable=False),
    Column("quantity", BigInteger, nullable=False),
    Column("other_party", String(32), nullable=False),
    Column("zone", String(16), nullable=False),
    Column("band", String(8), nullable=False),
    Column("billable_quantity", BigInteger, nullable=False),
    Column("allowance_used", BigInteger, nullable=False),
    Column("charge_minor", BigInteger, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("flags", Integer, nullable=False, server_default="0"),  # bit 1 = NEGATIVE_BALANCE
    Column("payment_type", String(16), nullable=False),
    Column("bill_id", BigInteger, nullable=True),  # postpaid: set when billed
    Column("source", String(200), nullable=False, server_default=""),
    Column("rated_at", DateTime, nullable=False),
    Index("ix_rated_cdrs_subscriber_id_started_at", "subscriber_id", "started_at"),
)

# --- Billing ------------------------------------------------------------------------------

bill_runs = Table(
    "bill_runs",
    metadata,
    Column("id", Id, primary_key=True),
    Column("period", String(7), nullable=False),  # YYYY-MM
    Column("bill_cycle_id", Integer, nullable=True),
    Column("status", String(12), nullable=False),  # RUNNING, DONE
    Column("started_at", DateTime, nullable=False),
    Column("finished_at", DateTime, nullable=True),
    Column("bills_created", Integer, nullable=False, server_default="0"),
    Column("total_minor", BigInteger, nullable=False, server_default="0"),
)

# One row per numbering series; the row is locked while a number is taken so numbers are gapless.
invoice_sequences = Table(
    "invoice_sequences",
    metadata,
    Column("name", String(32), primary_key=True),
    Column("next_value", BigInteger, nullable=False),
)

bills = Table(
    "bills",
    metadata,
    Column("id", Id, primary_key=True),
    Column("subscriber_id", ForeignKey("subscribers.id"), nullable=False),
    Column("invoice_number", String(32), nullable=False, unique=True),
    Column("kind", String(12), nullable=False),  # MONTHLY, ON_DEMAND, FINAL
    Column("status", String(12), nullable=False),  # DRAFT (no PDF yet), ISSUED
    Column("period_start", DateTime, nullable=False),
    Column("period_end", DateTime, nullable=False),
    Column("issued_at", DateTime, nullable=False),
    Column("currency", String(3), nullable=False),
    Column("net_total_minor", BigInteger, nullable=False),
    Column("pdf_path", String(300), nullable=False, server_default=""),  # relative to data dir
    Column("pdf_sha256", String(64), nullable=False, server_default=""),
    Column("bill_run_id", BigInteger, nullable=True),
    # 0 for a line's regular bills (monthly, on demand, final); n for its n-th supplementary
    # bill, which carries usage that reached the loader after the final bill and may start
    # exactly where an earlier bill of the line started.
    Column("supplement", Integer, nullable=False, server_default="0"),
    UniqueConstraint("subscriber_id", "period_start", "supplement"),  # one bill per period
    CheckConstraint("period_end > period_start", name="period"),
    CheckConstraint("status IN ('DRAFT', 'ISSUED')", name="status"),
)

# Per bill cycle: the rated CDRs (by id) that late-usage planning has already looked at. The
# loader commits its batches one after the other under its write lock, so a CDR committed
# later always has a higher id: a run only needs to look at the CDRs above the mark.
# ``version`` changes with every move of the mark, so a run only advances the mark it planned
# from (a termination meanwhile moves it back).
late_usage_scans = Table(
    "late_usage_scans",
    metadata,
    Column("bill_cycle_id", Integer, primary_key=True, autoincrement=False),
    Column("scanned_to_cdr_id", BigInteger, nullable=False),
    Column("version", Integer, nullable=False),
)

bill_lines = Table(
    "bill_lines",
    metadata,
    Column("id", Id, primary_key=True),
    Column("bill_id", ForeignKey("bills.id", ondelete="CASCADE"), nullable=False),
    Column("line_no", Integer, nullable=False),
    Column("kind", String(12), nullable=False),  # FEE, USAGE, ALLOWANCE
    Column("description", String(200), nullable=False),
    Column("service_id", String(16), nullable=False, server_default=""),
    Column("quantity", BigInteger, nullable=False),
    Column("unit", String(16), nullable=False, server_default=""),
    Column("amount_minor", BigInteger, nullable=False),
    UniqueConstraint("bill_id", "line_no"),
)
