"""Test data for rating and usage tests: a small catalog with known prices and subscribers
inserted directly (the subscriber use case has its own tests)."""

from __future__ import annotations

from datetime import date, datetime, time

from sqlalchemy import insert, select

from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import (
    Allowance,
    Band,
    BillCycle,
    Catalog,
    PaymentType,
    PeakHours,
    PricePlan,
    RatingStrategy,
    Service,
    ServiceUnit,
    Tariff,
    Zone,
)
from microbss.engine.storage.catalog_repository import replace_catalog
from microbss.engine.storage.tables import balances, subscribers

PREPAID_PLAN = 101
POSTPAID_PLAN = 201
ACTIVATED = datetime(2026, 1, 1)

_PEAK = PeakHours(weekdays=frozenset(range(5)), start=time(8), end=time(20))


def _tariffs() -> tuple[Tariff, ...]:
    unit = RatingStrategy.PER_UNIT
    return (
        # 0.12/min peak, 0.06/min off-peak, per started minute
        Tariff("VOICE", Zone.NATIONAL, Band.PEAK, unit, 12, 60, 60),
        Tariff("VOICE", Zone.NATIONAL, Band.OFFPEAK, unit, 6, 60, 60),
        # 0.50/min, 60 s minimum then per second
        Tariff("VOICE", Zone.INTERNATIONAL, Band.ANY, unit, 50, 60, 1, minimum_quantity=60),
        Tariff("SMS", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_EVENT, 9, 1, 1),
        # 1.00 per MB, per started KB
        Tariff("DATA", Zone.NATIONAL, Band.ANY, unit, 100, 1 << 20, 1024),
    )


def usage_catalog() -> Catalog:
    prepaid = PricePlan(
        id=PREPAID_PLAN,
        code="PRE_TEST",
        name="Prepaid test",
        payment_type=PaymentType.PREPAID,
        currency="EUR",
        monthly_fee=0,
        initial_credit=1000,
        peak_hours=_PEAK,
        tariffs=_tariffs(),
    )
    postpaid = PricePlan(
        id=POSTPAID_PLAN,
        code="POST_TEST",
        name="Postpaid test",
        payment_type=PaymentType.POSTPAID,
        currency="EUR",
        monthly_fee=1500,
        peak_hours=_PEAK,
        tariffs=_tariffs(),
        allowances=(Allowance("VOICE", 120, frozenset({Zone.NATIONAL})),),
    )
    return Catalog(
        services={
            "VOICE": Service("VOICE", "Voice", ServiceUnit.SECOND),
            "SMS": Service("SMS", "SMS", ServiceUnit.MESSAGE),
            "DATA": Service("DATA", "Data", ServiceUnit.BYTE),
        },
        bill_cycles={1: BillCycle(1, "1st", 1)},
        price_plans={PREPAID_PLAN: prepaid, POSTPAID_PLAN: postpaid},
    )


def seed_catalog(deps: Deps) -> None:
    with deps.db.begin() as conn:
        replace_catalog(conn, usage_catalog())


def add_subscriber(
    deps: Deps,
    msisdn: str,
    *,
    prepaid: bool = True,
    balance: int = 1000,
    activated_at: datetime = ACTIVATED,
    terminated_at: datetime | None = None,
) -> int:
    """Insert a subscriber (and its main balance) directly; returns its id."""
    with deps.db.begin() as conn:
        count = conn.execute(select(subscribers.c.id)).all()
        n = len(count) + 1
        subscriber_id = conn.execute(
            insert(subscribers)
            .values(
                status="TERMINATED" if terminated_at else "ACTIVE",
                payment_type="PREPAID" if prepaid else "POSTPAID",
                price_plan_id=PREPAID_PLAN if prepaid else POSTPAID_PLAN,
                bill_cycle_id=None if prepaid else 1,
                msisdn=msisdn,
                imsi=f"21401{n:010d}",
                handset_imei=None,
                identity_hash=f"{n:064d}",
                identity_last4="0000",
                first_name="Test",
                last_name=f"Subscriber {n}",
                date_of_birth=date(1990, 1, 1),
                street="Calle Mayor 1",
                city="Madrid",
                postal_code="28013",
                country="ES",
                email=f"t{n}@example.com",
                contact_phone="600000000",
                payment_method="CASH",
                activated_at=activated_at,
                terminated_at=terminated_at,
                billed_until=activated_at,
            )
            .returning(subscribers.c.id)
        ).scalar_one()
        conn.execute(
            insert(balances).values(
                subscriber_id=subscriber_id,
                currency="EUR",
                amount_minor=balance if prepaid else 0,
                updated_at=activated_at,
            )
        )
    return int(subscriber_id)


def main_balance(deps: Deps, subscriber_id: int) -> int:
    with deps.db.connect() as conn:
        return int(
            conn.execute(
                select(balances.c.amount_minor).where(balances.c.subscriber_id == subscriber_id)
            ).scalar_one()
        )
