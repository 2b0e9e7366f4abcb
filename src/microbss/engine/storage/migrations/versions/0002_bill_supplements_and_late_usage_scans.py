"""Bill supplements and late-usage scan marks.

- ``bills.supplement``: a supplementary bill for usage that arrived after a line's final bill is
  numbered (1, 2, ...) per subscriber, and the one-bill-per-period key becomes
  (subscriber_id, period_start, supplement), so such a bill keeps its true period start even
  when an earlier bill of the line started at the same instant (it used to be moved back 1 µs).
- ``late_usage_scans``: per bill cycle, the rated CDR id up to which late-usage planning has
  looked, so a bill run reads only the CDRs loaded since.

Revision ID: 0002_billrun
Revises: 0001
"""

from __future__ import annotations

from collections.abc import Sequence

import sqlalchemy as sa
from alembic import op

revision: str = "0002_billrun"
down_revision: str | None = "0001"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None


def upgrade() -> None:
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.add_column(
            sa.Column("supplement", sa.Integer(), server_default="0", nullable=False)
        )
        batch_op.drop_constraint("uq_bills_subscriber_id_period_start", type_="unique")
        batch_op.create_unique_constraint(
            "uq_bills_subscriber_id_period_start_supplement",
            ["subscriber_id", "period_start", "supplement"],
        )
    # Supplementary bills made before this revision: FINAL bills of a bill run (the final bill
    # at termination is made outside any run), numbered per subscriber in the order made. Their
    # period starts keep the old 1 µs shift: an issued invoice is not rewritten.
    bills = sa.table(
        "bills",
        sa.column("id", sa.BigInteger()),
        sa.column("subscriber_id", sa.BigInteger()),
        sa.column("kind", sa.String()),
        sa.column("bill_run_id", sa.BigInteger()),
        sa.column("supplement", sa.Integer()),
    )
    conn = op.get_bind()
    rows = conn.execute(
        sa.select(bills.c.id, bills.c.subscriber_id)
        .where(bills.c.kind == "FINAL", bills.c.bill_run_id.is_not(None))
        .order_by(bills.c.subscriber_id, bills.c.id)
    ).all()
    numbers: dict[int, int] = {}
    for bill_id, subscriber_id in rows:
        numbers[subscriber_id] = numbers.get(subscriber_id, 0) + 1
        conn.execute(
            sa.update(bills).where(bills.c.id == bill_id).values(supplement=numbers[subscriber_id])
        )

    op.create_table(
        "late_usage_scans",
        sa.Column("bill_cycle_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("scanned_to_cdr_id", sa.BigInteger(), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("bill_cycle_id", name=op.f("pk_late_usage_scans")),
    )


def downgrade() -> None:
    op.drop_table("late_usage_scans")
    with op.batch_alter_table("bills", schema=None) as batch_op:
        batch_op.drop_constraint("uq_bills_subscriber_id_period_start_supplement", type_="unique")
        batch_op.create_unique_constraint(
            "uq_bills_subscriber_id_period_start", ["subscriber_id", "period_start"]
        )
        batch_op.drop_column("supplement")
