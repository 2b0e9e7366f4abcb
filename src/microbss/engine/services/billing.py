"""Billing use cases: make bills (for the bill run, ExecuteBilling and TerminateSubscriber), issue
their PDFs, and read bills and invoices back.

Every bill is made in two steps, so a crash at any point leaves nothing half-done:

1. one write transaction claims the subscriber (advances ``billed_until`` only if nobody else
   has), takes gapless invoice numbers, inserts the DRAFT bill, puts the unbilled CDRs on it,
   sums them into lines and writes an audit row; a rollback leaves no bill and consumes no number;
2. outside any transaction the PDF is rendered and written atomically, then a short write
   transaction moves the bill DRAFT -> ISSUED with the file's path and checksum.

A DRAFT bill left by a crash is finished by the next bill run (:func:`finish_draft_bills`).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from pathlib import Path

from sqlalchemy import Connection
from sqlalchemy.exc import IntegrityError

from microbss.engine.deps import Deps
from microbss.engine.domain.billing import (
    Bill,
    BillingAccount,
    BillKind,
    BillLine,
    BillStatus,
    FeeProration,
    check_transition,
    compose_lines,
    format_invoice_number,
    net_total,
    prorate_fee,
)
from microbss.engine.domain.catalog import Catalog
from microbss.engine.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from microbss.engine.domain.periods import to_local
from microbss.engine.jobs.invoice_pdf import (
    InvoiceDocument,
    Operator,
    resolve_invoice_path,
    save_invoices,
)
from microbss.engine.services.audit import record_audit
from microbss.engine.storage import bill_repository
from microbss.engine.storage.bill_repository import NewBill
from microbss.engine.storage.catalog_repository import load_catalog
from microbss.engine.storage.uow import UnitOfWork

INVOICE_CHUNK_BYTES = 64 * 1024


@dataclass(frozen=True, slots=True)
class BillRequest:
    """Bill ``account`` from its ``billed_until`` up to ``end``."""

    account: BillingAccount
    end: datetime


@dataclass
class DraftOutcome:
    """What one drafting transaction did with its requests."""

    bills: list[Bill] = field(default_factory=list)
    lost: list[int] = field(default_factory=list)  # billed meanwhile by another process
    empty: list[int] = field(default_factory=list)  # nothing to bill: no fee, no usage


# --- Step 1: draft bills in the caller's transaction -----------------------------------------


def _fees(requests: Sequence[BillRequest], catalog: Catalog, deps: Deps) -> dict[int, FeeProration]:
    """Subscriber id -> the monthly fee of its bill. Requests with the same fee, span, activation
    and cycle day (most of a bill run's chunk) share one proration."""
    fees: dict[int, FeeProration] = {}
    shared: dict[tuple[int, datetime, datetime, datetime, int], FeeProration] = {}
    for request in requests:
        account = request.account
        plan = catalog.price_plans[account.price_plan_id]
        cycle = catalog.bill_cycles[account.bill_cycle_id or 0]
        key = (
            plan.monthly_fee,
            account.billed_until,
            request.end,
            account.activated_at,
            cycle.cycle_day,
        )
        fee = shared.get(key)
        if fee is None:
            fee = shared[key] = prorate_fee(
                plan.monthly_fee,
                account.billed_until,
                request.end,
                activated_at=account.activated_at,
                cycle_day=cycle.cycle_day,
                tz=deps.settings.tz,
            )
        fees[account.subscriber_id] = fee
    return fees


def draft_bills(
    deps: Deps,
    conn: Connection,
    catalog: Catalog,
    requests: Sequence[BillRequest],
    *,
    kind: BillKind,
    issued_at: datetime,
    actor: str,
    bill_run_id: int | None = None,
) -> DraftOutcome:
    """Make DRAFT bills for ``requests`` inside the caller's write transaction.

    Requests whose subscriber someone else billed meanwhile are reported in ``lost``; those with
    no fee to charge and no usage in ``empty``; neither gets a bill or an invoice number.
    """
    outcome = DraftOutcome()
    fees = _fees(requests, catalog, deps)
    # Only a free line can be empty; asking the database only for those keeps the run fast.
    no_fee = [r for r in requests if fees[r.account.subscriber_id].amount == 0]
    with_usage = bill_repository.accounts_with_unbilled_usage(
        conn, [(r.account.subscriber_id, r.end) for r in no_fee]
    )
    wanted = []
    for request in requests:
        account = request.account
        if fees[account.subscriber_id].amount == 0 and account.subscriber_id not in with_usage:
            outcome.empty.append(account.subscriber_id)
        else:
            wanted.append(request)
    won = bill_repository.claim_accounts(
        conn, [(r.account.subscriber_id, r.account.billed_until, r.end) for r in wanted]
    )
    claimed = [r for r in wanted if r.account.subscriber_id in won]
    outcome.lost.extend(
        r.account.subscriber_id for r in wanted if r.account.subscriber_id not in won
    )
    if not claimed:
        return outcome

    outcome.bills = _store_bills(
        deps,
        conn,
        catalog,
        [
            _BillDraft(r.account, r.account.billed_until, r.end, fees[r.account.subscriber_id])
            for r in claimed
        ],
        kind=kind,
        issued_at=issued_at,
        actor=actor,
        bill_run_id=bill_run_id,
    )
    return outcome


def draft_late_usage_bills(
    deps: Deps,
    conn: Connection,
    catalog: Catalog,
    accounts: Sequence[BillingAccount],
    *,
    issued_at: datetime,
    actor: str,
    bill_run_id: int,
) -> DraftOutcome:
    """FINAL bills, made by a bill run, for usage of terminated lines that reached the CDR
    loader after their final bill (roaming partners and switches deliver CDRs days late).

    What an operator expects: the late usage is charged once, on a supplementary final invoice
    with no monthly fee (the line's fee ended with it), covering from the first late event to the
    termination. Each is the line's next supplement (1, 2, ...), which keeps it apart from an
    earlier bill that started at the same instant. The subscribers' rows are locked first, so two
    runs at once cannot both bill the same late CDRs; a line with nothing late any more lands in
    ``empty``.
    """
    outcome = DraftOutcome()
    finished = [
        a for a in accounts if a.terminated_at is not None and a.billed_until >= a.terminated_at
    ]
    bill_repository.lock_accounts(conn, [a.subscriber_id for a in finished])
    first_late = bill_repository.first_unbilled_usage(
        conn, [(a.subscriber_id, a.billed_until) for a in finished]
    )
    last_supplement = bill_repository.last_supplements(conn, list(first_late))
    drafts = []
    for account in finished:
        start = first_late.get(account.subscriber_id)
        if start is None:
            outcome.empty.append(account.subscriber_id)
            continue
        supplement = last_supplement[account.subscriber_id] + 1
        drafts.append(
            _BillDraft(account, start, account.billed_until, FeeProration(days=0), supplement)
        )
    outcome.bills = _store_bills(
        deps,
        conn,
        catalog,
        drafts,
        kind=BillKind.FINAL,
        issued_at=issued_at,
        actor=actor,
        bill_run_id=bill_run_id,
    )
    return outcome


@dataclass(frozen=True, slots=True)
class _BillDraft:
    """One bill to store: the account, its period, its monthly fee, and which supplement it is
    (0: a regular bill)."""

    account: BillingAccount
    start: datetime
    end: datetime
    fee: FeeProration
    supplement: int = 0


def _store_bills(
    deps: Deps,
    conn: Connection,
    catalog: Catalog,
    drafts: Sequence[_BillDraft],
    *,
    kind: BillKind,
    issued_at: datetime,
    actor: str,
    bill_run_id: int | None,
) -> list[Bill]:
    """Number and insert the DRAFT bills, put each one's unbilled CDRs before its end on it, and
    store its lines and total, in the caller's transaction."""
    if not drafts:
        return []
    first_number = bill_repository.take_invoice_numbers(conn, len(drafts))
    year = to_local(issued_at, deps.settings.tz).year
    new_bills = [
        NewBill(
            subscriber_id=d.account.subscriber_id,
            invoice_number=format_invoice_number(year, first_number + index),
            kind=kind,
            period_start=d.start,
            period_end=d.end,
            issued_at=issued_at,
            currency=catalog.price_plans[d.account.price_plan_id].currency,
            bill_run_id=bill_run_id,
            supplement=d.supplement,
        )
        for index, d in enumerate(drafts)
    ]
    bill_ids = bill_repository.insert_bills(conn, new_bills)
    pairs = list(zip(bill_ids, drafts, strict=True))
    bill_repository.attach_unbilled_usage(
        conn, [(bill_id, d.account.subscriber_id, d.end) for bill_id, d in pairs]
    )
    usage = bill_repository.usage_of_bills(
        conn, {bill_id: d.account.subscriber_id for bill_id, d in pairs}
    )
    lines_by_bill: dict[int, list[BillLine]] = {}
    for bill_id, d in pairs:
        plan = catalog.price_plans[d.account.price_plan_id]
        lines_by_bill[bill_id] = compose_lines(plan.name, d.fee, usage[bill_id], catalog.services)
    bill_repository.insert_lines(conn, lines_by_bill)
    totals = {bill_id: net_total(lines) for bill_id, lines in lines_by_bill.items()}
    bill_repository.set_totals(conn, totals)

    bills = [
        Bill(
            id=bill_id,
            invoice_number=new.invoice_number,
            subscriber_id=new.subscriber_id,
            kind=kind,
            status=BillStatus.DRAFT,
            period_start=new.period_start,
            period_end=new.period_end,
            issued_at=issued_at,
            currency=new.currency,
            net_total=totals[bill_id],
            lines=tuple(lines_by_bill[bill_id]),
            bill_run_id=bill_run_id,
            supplement=new.supplement,
        )
        for bill_id, new in zip(bill_ids, new_bills, strict=True)
    ]
    _audit_bills(conn, actor, bills, bill_run_id)
    return bills


def _audit_bills(
    conn: Connection, actor: str, bills: Sequence[Bill], bill_run_id: int | None
) -> None:
    """One audit row per write: the bill itself, or the chunk of a bill run (the bills table
    holds each bill's details)."""
    if len(bills) == 1 and bill_run_id is None:
        bill = bills[0]
        record_audit(
            conn,
            actor=actor,
            action="bill.create",
            target=f"subscriber:{bill.subscriber_id}",
            details={
                "bill_id": bill.id,
                "invoice_number": bill.invoice_number,
                "kind": bill.kind.value,
                "net_total_minor": bill.net_total,
                "currency": bill.currency,
                "period_start": bill.period_start,
                "period_end": bill.period_end,
            },
        )
        return
    record_audit(
        conn,
        actor=actor,
        action="bill.create",
        target=f"bill_run:{bill_run_id}",
        details={
            "bills": len(bills),
            "first_invoice": bills[0].invoice_number,
            "last_invoice": bills[-1].invoice_number,
            "net_total_minor": sum(b.net_total for b in bills),
        },
    )


# --- Step 2: PDFs and DRAFT -> ISSUED ----------------------------------------------------------


def invoice_documents(
    deps: Deps,
    catalog: Catalog,
    bills: Sequence[Bill],
    accounts: dict[int, BillingAccount] | None = None,
) -> list[InvoiceDocument]:
    """What each bill's PDF shows; refuses a bill that is not DRAFT."""
    if accounts is None or any(b.subscriber_id not in accounts for b in bills):
        with deps.db.connect() as conn:
            accounts = bill_repository.load_accounts(conn, [b.subscriber_id for b in bills])
    operator = Operator.from_settings(deps.settings)
    documents = []
    for bill in bills:
        check_transition(bill.status, BillStatus.ISSUED, bill.invoice_number)
        account = accounts[bill.subscriber_id]
        plan = catalog.price_plans.get(account.price_plan_id)
        documents.append(InvoiceDocument(operator, bill, account, plan.name if plan else ""))
    return documents


def record_issued(deps: Deps, issued: Sequence[tuple[int, str, str]]) -> None:
    """DRAFT -> ISSUED for (bill id, pdf path, sha256) whose PDFs are on disk, in one short
    transaction."""
    if issued:
        with UnitOfWork(deps.db, write=True) as uow:
            bill_repository.mark_issued(uow.conn, issued)
            uow.commit()


def issue_bills(
    deps: Deps,
    catalog: Catalog,
    bills: Sequence[Bill],
    accounts: dict[int, BillingAccount] | None = None,
) -> list[Bill]:
    """Render and write each bill's PDF, then mark them ISSUED in one short transaction."""
    if not bills:
        return []
    documents = invoice_documents(deps, catalog, bills, accounts)
    saved = save_invoices(deps.settings.data_dir, documents)
    issued = [(bill.id, path, sha) for bill, (path, sha) in zip(bills, saved, strict=True)]
    record_issued(deps, issued)
    return [
        _as_issued(bill, path, sha) for bill, (_id, path, sha) in zip(bills, issued, strict=True)
    ]


def _as_issued(bill: Bill, path: str, sha: str) -> Bill:
    return replace(bill, status=BillStatus.ISSUED, pdf_path=path, pdf_sha256=sha)


def finish_draft_bills(deps: Deps, catalog: Catalog | None = None) -> int:
    """Write the PDFs of bills a crash (or a run in progress elsewhere) left as DRAFT."""
    with deps.db.connect() as conn:
        drafts = bill_repository.draft_bills(conn)
        if catalog is None and drafts:
            catalog = load_catalog(conn)
    if not drafts or catalog is None:
        return 0
    issue_bills(deps, catalog, drafts)
    return len(drafts)


# --- ExecuteBilling ----------------------------------------------------------------------------


def _billable_account(conn: Connection, subscriber_id: int) -> BillingAccount:
    if subscriber_id <= 0:
        raise InvalidArgument("must be a positive subscriber id", field="subscriber_id")
    account = bill_repository.get_account(conn, subscriber_id)
    if account is None:
        raise NotFound(f"subscriber {subscriber_id} does not exist", field="subscriber_id")
    return account


def execute_billing(deps: Deps, actor: str, subscriber_id: int) -> Bill:
    """Bill everything a postpaid subscriber has not been billed for, up to now (ON_DEMAND)."""
    now = deps.clock()
    with deps.db.connect() as conn:
        account = _billable_account(conn, subscriber_id)
        catalog = load_catalog(conn)
    if account.payment_type != "POSTPAID":
        raise FailedPrecondition(
            f"subscriber {subscriber_id} is prepaid; only postpaid lines are billed",
            field="subscriber_id",
        )
    if account.status != "ACTIVE":
        raise FailedPrecondition(
            f"subscriber {subscriber_id} is terminated; its final bill was made at termination"
            " and usage that arrives later goes on a final bill of the next bill run",
            field="subscriber_id",
        )
    with UnitOfWork(deps.db, write=True) as uow:
        outcome = _draft_one(
            deps, uow.conn, catalog, BillRequest(account, now), BillKind.ON_DEMAND, now, actor
        )
        if outcome.lost:
            return _concurrent_bill(uow.conn, account)
        if outcome.empty:
            raise _nothing_to_bill(account, deps)
        uow.commit()
    return issue_bills(deps, catalog, outcome.bills, {subscriber_id: account})[0]


def _draft_one(
    deps: Deps,
    conn: Connection,
    catalog: Catalog,
    request: BillRequest,
    kind: BillKind,
    now: datetime,
    actor: str,
) -> DraftOutcome:
    if request.end <= request.account.billed_until:
        return DraftOutcome(empty=[request.account.subscriber_id])
    try:
        return draft_bills(deps, conn, catalog, [request], kind=kind, issued_at=now, actor=actor)
    except IntegrityError as err:
        raise FailedPrecondition(
            f"subscriber {request.account.subscriber_id} already has a bill starting "
            f"{request.account.billed_until:%Y-%m-%d %H:%M} UTC",
            field="subscriber_id",
        ) from err


def _concurrent_bill(conn: Connection, account: BillingAccount) -> Bill:
    """The bill a concurrent ExecuteBilling made for the same subscriber, if that is what won."""
    bill = bill_repository.bill_starting_at(conn, account.subscriber_id, account.billed_until)
    if bill is not None and bill.kind == BillKind.ON_DEMAND:
        return bill
    raise FailedPrecondition(
        f"subscriber {account.subscriber_id} was billed by another process just now; try again",
        field="subscriber_id",
    )


def _nothing_to_bill(account: BillingAccount, deps: Deps) -> FailedPrecondition:
    since = to_local(account.billed_until, deps.settings.tz)
    return FailedPrecondition(
        f"nothing to bill for subscriber {account.subscriber_id}: no unbilled usage and no "
        f"monthly fee due since {since:%Y-%m-%d %H:%M} (operator time)",
        field="subscriber_id",
    )


# --- TerminateSubscriber -----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Termination:
    subscriber_id: int
    terminated_at: datetime
    final_bill: Bill | None
    msisdn_available_at: datetime


def terminate_subscriber(deps: Deps, actor: str, subscriber_id: int, reason: str) -> Termination:
    """Final bill (postpaid, when anything is due), status TERMINATED, IMSI and handset FREE, the
    MSISDN in quarantine; all in one transaction, the final invoice's PDF right after."""
    reason = reason.strip()
    if not reason:
        raise InvalidArgument("say why the line is terminated", field="reason")
    now = deps.clock()
    with deps.db.connect() as conn:
        account = _billable_account(conn, subscriber_id)
        catalog = load_catalog(conn)
    if account.status != "ACTIVE":
        raise FailedPrecondition(
            f"subscriber {subscriber_id} is already terminated", field="subscriber_id"
        )
    available_at = now + timedelta(days=deps.settings.msisdn_quarantine_days)
    with UnitOfWork(deps.db, write=True) as uow:
        _reopen_late_usage_scan(uow.conn, account)
        final = _final_bill(deps, uow.conn, catalog, account, now, actor)
        if not bill_repository.terminate_account(uow.conn, subscriber_id, now):
            raise FailedPrecondition(
                f"subscriber {subscriber_id} is already terminated", field="subscriber_id"
            )
        released = bill_repository.release_resources(uow.conn, subscriber_id, available_at)
        record_audit(
            uow.conn,
            actor=actor,
            action="subscriber.terminate",
            target=f"subscriber:{subscriber_id}",
            details={
                "reason": reason[:500],
                "final_bill_id": final.id if final else None,
                "msisdn_available_at": available_at,
                **released,
            },
        )
        uow.commit()
    issued = issue_bills(deps, catalog, [final], {subscriber_id: account})[0] if final else None
    return Termination(subscriber_id, now, issued, available_at)


def _reopen_late_usage_scan(conn: Connection, account: BillingAccount) -> None:
    """Before the final bill reads the line's usage: make the next bill runs of its cycle look
    at every CDR above the last one this transaction can see. On PostgreSQL a loader batch may
    be committing CDRs of this line right now, unseen by the final bill; they are late usage,
    and a run planned before this termination must not move the cycle's mark past them."""
    if account.payment_type == "POSTPAID" and account.bill_cycle_id is not None:
        last_seen = bill_repository.last_cdr_id(conn)
        bill_repository.reopen_late_usage_scan(conn, account.bill_cycle_id, last_seen)


def _final_bill(
    deps: Deps,
    conn: Connection,
    catalog: Catalog,
    account: BillingAccount,
    now: datetime,
    actor: str,
) -> Bill | None:
    if account.payment_type != "POSTPAID":
        return None
    outcome = _draft_one(deps, conn, catalog, BillRequest(account, now), BillKind.FINAL, now, actor)
    if outcome.lost:
        raise FailedPrecondition(
            f"subscriber {account.subscriber_id} is being billed right now; try again",
            field="subscriber_id",
        )
    return outcome.bills[0] if outcome.bills else None


# --- Reading -----------------------------------------------------------------------------------


def subscriber_bills(deps: Deps, subscriber_id: int) -> list[Bill]:
    """A subscriber's bills with their lines, newest first (also after termination)."""
    with deps.db.connect() as conn:
        _billable_account(conn, subscriber_id)
        return bill_repository.bills_of_subscriber(conn, subscriber_id)


@dataclass(frozen=True, slots=True)
class InvoiceFile:
    file_name: str
    path: Path
    size: int


def invoice_file(deps: Deps, bill_id: int) -> InvoiceFile:
    """Where an issued bill's PDF is; the path comes from the bill row, checked to stay inside the
    invoice folder, never from the caller."""
    if bill_id <= 0:
        raise InvalidArgument("must be a positive bill id", field="bill_id")
    with deps.db.connect() as conn:
        bill = bill_repository.get_bill(conn, bill_id)
    if bill is None:
        raise NotFound(f"bill {bill_id} does not exist", field="bill_id")
    if bill.status != BillStatus.ISSUED or not bill.pdf_path:
        raise FailedPrecondition(
            f"the invoice PDF of bill {bill.invoice_number} is not written yet; try again shortly",
            field="bill_id",
        )
    try:
        path = resolve_invoice_path(deps.settings.data_dir, bill.pdf_path)
    except ValueError as err:
        raise FailedPrecondition(str(err), field="bill_id") from err
    if not path.is_file():
        raise FailedPrecondition(
            f"the invoice PDF of bill {bill.invoice_number} is missing from the invoice folder",
            field="bill_id",
        )
    return InvoiceFile(file_name=f"{bill.invoice_number}.pdf", path=path, size=path.stat().st_size)
