"""The monthly bill run: one MONTHLY bill with its PDF for every postpaid subscriber of the bill
cycle(s) for a period, exactly once, and the past bill runs the demo data needs.

``--period YYYY-MM`` names, for a cycle with cycle day D, the period that ends on day D of that
month. A subscriber is due when it was active at some time in the period and ``billed_until`` is
before the period's end (and before its termination); its bill covers
[billed_until, min(period end, terminated_at)).

Late usage: a CDR of a terminated postpaid line can reach the loader after the line's final bill
(the loader rates any event from while the line was active). The run of the line's cycle for any
period ending after the termination bills such CDRs on a supplementary FINAL bill: usage only, no
monthly fee, each CDR once (see services.billing.draft_late_usage_bills). To find them, a run
reads only the CDRs loaded since the cycle's last completed run (``late_usage_scans``: the CDR
id up to which it looked), never the whole history of every terminated line; the mark advances
when the run completes, and only as far as every late CDR below it has been billed.

Exactly once and crash-safe (see services.billing for the two steps of a bill):
- a run first finishes DRAFT bills a crashed run left (their PDFs are re-rendered), then bills
  the subscribers still due; a subscriber billed meanwhile by another run is skipped by the
  conditional advance of ``billed_until``;
- subscribers are billed in chunks: one short write transaction per chunk, PDFs rendered outside
  any transaction, then, once a few chunks' PDFs are flushed to disk together, one short
  transaction issues them (see _Issuer). SQLite writers queue on
  BEGIN IMMEDIATE, so short transactions let several workers share the database.

``workers > 1`` spreads the PDF rendering over processes started with the *spawn* method (``fork``
is unsafe with threads and open database connections). The run's own process keeps every
database transaction: SQLite has one writer at a time anyway, and writers in several processes
would wait on each other's locks with sleeping back-off instead of working.
"""

from __future__ import annotations

import logging
import multiprocessing
import re
import time
from collections import deque
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime
from multiprocessing.pool import AsyncResult

from sqlalchemy import Connection

from microbss.engine.config import Settings
from microbss.engine.deps import Deps
from microbss.engine.domain.billing import BillingAccount, BillKind
from microbss.engine.domain.catalog import BillCycle, Catalog
from microbss.engine.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from microbss.engine.domain.periods import period_containing, period_ending_in, to_local
from microbss.engine.jobs.invoice_pdf import (
    INVOICE_FOLDER,
    flush_to_disk,
    pack_invoices,
    write_bill_invoices,
    write_packed_invoices,
)
from microbss.engine.services.billing import (
    BillRequest,
    DraftOutcome,
    draft_bills,
    draft_late_usage_bills,
    finish_draft_bills,
    invoice_documents,
    record_issued,
)
from microbss.engine.storage import bill_repository
from microbss.engine.storage.catalog_repository import load_catalog
from microbss.engine.storage.uow import UnitOfWork

CHUNK_SIZE = 50  # subscribers per write transaction: short locks, few round trips
FLUSH_BILLS = 200  # written PDFs per file-system flush (and per ISSUED transaction)
_PERIOD = re.compile(r"^(\d{4})-(\d{2})$")

Progress = Callable[[int], None]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class PeriodOfCycle:
    cycle: BillCycle
    start: datetime
    end: datetime


@dataclass
class BillRunSummary:
    period: str
    bill_cycle_ids: list[int]
    cycles_not_over: list[int] = field(default_factory=list)  # period not ended yet: left out
    bill_run_id: int = 0
    due: int = 0  # subscribers found due when the run started
    bills_created: int = 0
    drafts_finished: int = 0  # DRAFT bills of an earlier, interrupted run completed now
    skipped: int = 0  # billed meanwhile by another run, or nothing to bill
    totals: dict[str, int] = field(default_factory=dict)  # currency -> minor units billed
    seconds: float = 0.0

    @property
    def bills_per_second(self) -> float:
        return self.bills_created / self.seconds if self.seconds > 0 else 0.0


@dataclass(frozen=True, slots=True)
class _Chunk:
    """Work for one transaction: subscriber ids due in one cycle's period, or (``late_usage``)
    terminated lines of the cycle with usage that arrived after their final bill."""

    subscriber_ids: tuple[int, ...]
    period_end: datetime
    late_usage: bool = False


@dataclass(frozen=True, slots=True)
class _LateUsageMark:
    """Where a cycle's late-usage mark may move once the run completes."""

    bill_cycle_id: int
    planned_from: bill_repository.LateUsageScan
    to_cdr_id: int


@dataclass
class _Plan:
    chunks: list[_Chunk]
    late_usage_marks: list[_LateUsageMark]


@dataclass
class _ChunkResult:
    bills: int = 0
    skipped: int = 0
    totals: dict[str, int] = field(default_factory=dict)


# --- Planning --------------------------------------------------------------------------------


def parse_period(text: str) -> tuple[int, int]:
    match = _PERIOD.match(text.strip())
    if not match or not 1 <= int(match.group(2)) <= 12:
        raise InvalidArgument(f"{text!r} is not a period like 2026-03", field="period")
    return int(match.group(1)), int(match.group(2))


def periods_to_bill(
    catalog: Catalog, period: str, bill_cycle_id: int | None, settings: Settings, now: datetime
) -> tuple[list[PeriodOfCycle], list[int]]:
    """The cycle periods a run bills, and the cycles left out because their period has not
    ended yet. Refuses an unknown cycle, and a period not over for the cycle asked for (or for
    every cycle)."""
    year, month = parse_period(period)
    if bill_cycle_id is not None and bill_cycle_id not in catalog.bill_cycles:
        raise NotFound(f"bill cycle {bill_cycle_id} does not exist", field="billcycle")
    cycles = (
        [catalog.bill_cycles[bill_cycle_id]]
        if bill_cycle_id is not None
        else [catalog.bill_cycles[key] for key in sorted(catalog.bill_cycles)]
    )
    ready: list[PeriodOfCycle] = []
    not_over: list[int] = []
    for cycle in cycles:
        start, end = period_ending_in(year, month, cycle.cycle_day, settings.tz)
        if end > now:
            not_over.append(cycle.id)
        else:
            ready.append(PeriodOfCycle(cycle, start, end))
    if not ready and cycles:
        first = cycles[0]
        _start, end = period_ending_in(year, month, first.cycle_day, settings.tz)
        raise FailedPrecondition(
            f"period {period} of bill cycle {first.id} ({first.name}) ends on "
            f"{to_local(end, settings.tz):%Y-%m-%d %H:%M}, which has not come yet",
            field="period",
        )
    return ready, not_over


def _plan(deps: Deps, periods: Sequence[PeriodOfCycle]) -> _Plan:
    plan = _Plan([], [])
    with _planning_connection(deps) as conn:
        for item in periods:
            due = bill_repository.due_account_ids(conn, item.cycle.id, item.start, item.end)
            late, mark = _late_usage(conn, item)
            plan.late_usage_marks.append(mark)
            for ids, late_usage in ((due, False), (late, True)):
                for index in range(0, len(ids), CHUNK_SIZE):
                    batch = tuple(ids[index : index + CHUNK_SIZE])
                    plan.chunks.append(_Chunk(batch, item.end, late_usage))
    return plan


@contextmanager
def _planning_connection(deps: Deps) -> Iterator[Connection]:
    """One snapshot for all of planning (SQLite's read transaction already is one; PostgreSQL
    needs REPEATABLE READ), so the late-usage mark, the last CDR id and the terminated lines
    are read as of the same instant."""
    with deps.db.connect() as conn:
        if conn.dialect.name == "postgresql":
            conn = conn.execution_options(isolation_level="REPEATABLE READ")
        yield conn


def _late_usage(conn: Connection, item: PeriodOfCycle) -> tuple[list[int], _LateUsageMark]:
    """Terminated lines of the cycle, terminated by the period's end, with CDRs loaded after
    their final bill and not billed yet; and how far the cycle's mark may move once they are.

    Only CDRs loaded since the mark are read. A late CDR of a line terminated after this
    period's end belongs to a later period's run: the mark stops below it."""
    scan = bill_repository.late_usage_scan(conn, item.cycle.id)
    top = bill_repository.last_cdr_id(conn)
    lines = bill_repository.finally_billed_lines(conn, item.cycle.id)
    found = (
        bill_repository.unbilled_usage_between(conn, scan.scanned_to_cdr_id, top)
        if lines and top > scan.scanned_to_cdr_id
        else {}
    )
    late, to_cdr_id = [], top
    for subscriber_id, first_cdr_id in sorted(found.items()):
        terminated_at = lines.get(subscriber_id)
        if terminated_at is None:
            continue  # a line still billed the ordinary way
        if terminated_at <= item.end:
            late.append(subscriber_id)
        else:
            to_cdr_id = min(to_cdr_id, first_cdr_id - 1)
    return late, _LateUsageMark(item.cycle.id, scan, to_cdr_id)


# --- One chunk ------------------------------------------------------------------------------


def _draft_chunk(
    deps: Deps,
    catalog: Catalog,
    chunk: _Chunk,
    *,
    bill_run_id: int,
    issued_at: datetime,
    actor: str,
) -> tuple[DraftOutcome, dict[int, BillingAccount], _ChunkResult]:
    """Step 1 for a chunk: its DRAFT bills, in one short write transaction."""
    with deps.db.connect() as conn:
        accounts = bill_repository.load_accounts(conn, chunk.subscriber_ids)
    if chunk.late_usage:
        with UnitOfWork(deps.db, write=True) as uow:
            outcome = draft_late_usage_bills(
                deps,
                uow.conn,
                catalog,
                [accounts[i] for i in chunk.subscriber_ids if i in accounts],
                issued_at=issued_at,
                actor=actor,
                bill_run_id=bill_run_id,
            )
            uow.commit()
        return outcome, accounts, _chunk_result(chunk, outcome)
    requests = []
    for subscriber_id in chunk.subscriber_ids:
        account = accounts.get(subscriber_id)
        if account is None:
            continue
        end = min(chunk.period_end, account.terminated_at or chunk.period_end)
        if account.billed_until < end:
            requests.append(BillRequest(account, end))
    with UnitOfWork(deps.db, write=True) as uow:
        outcome = draft_bills(
            deps,
            uow.conn,
            catalog,
            requests,
            kind=BillKind.MONTHLY,
            issued_at=issued_at,
            actor=actor,
            bill_run_id=bill_run_id,
        )
        uow.commit()
    return outcome, accounts, _chunk_result(chunk, outcome)


def _chunk_result(chunk: _Chunk, outcome: DraftOutcome) -> _ChunkResult:
    result = _ChunkResult(
        bills=len(outcome.bills), skipped=len(chunk.subscriber_ids) - len(outcome.bills)
    )
    for bill in outcome.bills:
        result.totals[bill.currency] = result.totals.get(bill.currency, 0) + bill.net_total
    return result


# --- Issuing: flush, then DRAFT -> ISSUED --------------------------------------------------


class _Issuer:
    """Marks bills ISSUED once their written PDFs are on stable storage.

    A file-system flush costs about the same however many files it carries (~10 ms here), so
    written PDFs are flushed once per ``FLUSH_BILLS`` bills instead of once per chunk, and the
    flush with its short ISSUED transaction runs on one background thread while this process
    drafts and renders on. Until then the bills stay DRAFT: a run killed meanwhile leaves DRAFT
    bills, which the next run finishes (their PDFs rewritten) like any other.
    """

    def __init__(self, deps: Deps) -> None:
        self._deps = deps
        self._pending: list[tuple[int, str, str]] = []
        self._thread = ThreadPoolExecutor(max_workers=1, thread_name_prefix="billrun-flush")
        self._flushes: deque[Future[None]] = deque()

    def add(self, issued: Sequence[tuple[int, str, str]]) -> None:
        """(bill id, pdf path, sha256) of PDFs written but not yet flushed."""
        self._pending.extend(issued)
        while self._flushes and self._flushes[0].done():
            self._flushes.popleft().result()  # raises what the flush raised
        if len(self._pending) >= FLUSH_BILLS:
            self._submit()

    def close(self) -> None:
        """Flush and issue the rest, and wait for every flush (re-raising its error)."""
        try:
            if self._pending:
                self._submit()
            while self._flushes:
                self._flushes.popleft().result()
        finally:
            self._thread.shutdown(wait=True)

    def close_quietly(self) -> None:
        """Like :meth:`close` while another error is stopping the run: that error is the one
        to see, so a flush failure now is logged (its bills stay DRAFT for the next run)."""
        try:
            self.close()
        except Exception:
            log.exception("could not issue the last flushed bills; the next run finishes them")

    def _submit(self) -> None:
        batch, self._pending = self._pending, []
        self._flushes.append(self._thread.submit(_flush_and_issue, self._deps, batch))


def _flush_and_issue(deps: Deps, issued: list[tuple[int, str, str]]) -> None:
    flush_to_disk(deps.settings.data_dir / INVOICE_FOLDER)
    record_issued(deps, issued)


# --- Rendering processes -------------------------------------------------------------------


def _run_chunks(
    deps: Deps,
    catalog: Catalog,
    chunks: Sequence[_Chunk],
    *,
    workers: int,
    bill_run_id: int,
    issued_at: datetime,
    actor: str,
) -> Iterator[_ChunkResult]:
    """Bill the chunks. With one worker everything runs here; with more, this process keeps all
    the (short) database transactions, so SQLite has a single writer, and ``workers`` spawned
    processes render and write the PDFs of the chunks drafted meanwhile."""
    issuer = _Issuer(deps)
    try:
        if workers <= 1:
            for chunk in chunks:
                outcome, accounts, result = _draft_chunk(
                    deps, catalog, chunk, bill_run_id=bill_run_id, issued_at=issued_at, actor=actor
                )
                documents = invoice_documents(deps, catalog, outcome.bills, accounts)
                issuer.add(write_bill_invoices(deps.settings.data_dir, documents))
                yield result
        else:
            yield from _run_chunks_in_pool(
                deps,
                catalog,
                chunks,
                issuer,
                workers=workers,
                bill_run_id=bill_run_id,
                issued_at=issued_at,
                actor=actor,
            )
    except BaseException:
        issuer.close_quietly()
        raise
    issuer.close()


def _run_chunks_in_pool(
    deps: Deps,
    catalog: Catalog,
    chunks: Sequence[_Chunk],
    issuer: _Issuer,
    *,
    workers: int,
    bill_run_id: int,
    issued_at: datetime,
    actor: str,
) -> Iterator[_ChunkResult]:
    context = multiprocessing.get_context("spawn")
    in_flight: deque[tuple[AsyncResult[list[tuple[int, str, str]]], _ChunkResult]] = deque()
    with context.Pool(workers) as pool:
        for chunk in chunks:
            outcome, accounts, result = _draft_chunk(
                deps, catalog, chunk, bill_run_id=bill_run_id, issued_at=issued_at, actor=actor
            )
            documents = invoice_documents(deps, catalog, outcome.bills, accounts)
            job = (deps.settings.data_dir, pack_invoices(documents))
            in_flight.append((pool.apply_async(write_packed_invoices, job), result))
            # Bound the drafts waiting for PDFs: enough to keep every worker busy, no more.
            while in_flight and (len(in_flight) > 2 * workers or in_flight[0][0].ready()):
                rendering, done = in_flight.popleft()
                issuer.add(rendering.get())
                yield done
        while in_flight:
            rendering, done = in_flight.popleft()
            issuer.add(rendering.get())
            yield done


# --- The run --------------------------------------------------------------------------------


def run_bill_run(
    deps: Deps,
    period: str,
    bill_cycle_id: int | None = None,
    workers: int = 1,
    progress: Progress | None = None,
    *,
    actor: str = "billrun",
    issued_at: datetime | None = None,
    on_plan: Callable[[int], None] | None = None,
) -> BillRunSummary:
    """Bill every due postpaid subscriber of the cycle(s) for ``period`` ("YYYY-MM").

    ``progress`` is called with the number of subscribers handled after each chunk;
    ``on_plan`` once with the number due, before billing starts. ``issued_at`` (default: now)
    dates the invoices; the demo data's past runs date them at the period's end.
    """
    if workers < 1:
        raise InvalidArgument("must be 1 or more", field="workers")
    started = time.perf_counter()
    now = deps.clock()
    with deps.db.connect() as conn:
        catalog = load_catalog(conn)
    periods, not_over = periods_to_bill(catalog, period, bill_cycle_id, deps.settings, now)
    summary = BillRunSummary(
        period=period, bill_cycle_ids=[p.cycle.id for p in periods], cycles_not_over=not_over
    )
    with UnitOfWork(deps.db, write=True) as uow:
        summary.bill_run_id = bill_repository.start_bill_run(uow.conn, period, bill_cycle_id, now)
        uow.commit()

    summary.drafts_finished = finish_draft_bills(deps, catalog)
    plan = _plan(deps, periods)
    chunks = plan.chunks
    summary.due = sum(len(c.subscriber_ids) for c in chunks)
    if on_plan:
        on_plan(summary.due)
    for result in _run_chunks(
        deps,
        catalog,
        chunks,
        workers=workers,
        bill_run_id=summary.bill_run_id,
        issued_at=issued_at or now,
        actor=actor,
    ):
        summary.bills_created += result.bills
        summary.skipped += result.skipped
        for currency, amount in result.totals.items():
            summary.totals[currency] = summary.totals.get(currency, 0) + amount
        if progress:
            progress(result.bills + result.skipped)

    summary.seconds = time.perf_counter() - started
    with UnitOfWork(deps.db, write=True) as uow:
        bill_repository.finish_bill_run(
            uow.conn,
            summary.bill_run_id,
            deps.clock(),
            summary.bills_created,
            sum(summary.totals.values()),
        )
        # Every late CDR below the marks is billed now: later runs need not look at them.
        for mark in plan.late_usage_marks:
            bill_repository.advance_late_usage_scan(
                uow.conn, mark.bill_cycle_id, mark.planned_from, mark.to_cdr_id
            )
        uow.commit()
    return summary


# --- Past bill runs (demo data) ----------------------------------------------------------------


def past_periods(deps: Deps, catalog: Catalog) -> list[tuple[str, int]]:
    """(period, cycle id) of every complete period since the earliest postpaid activation of
    each cycle, oldest first."""
    now = deps.clock()
    tz = deps.settings.tz
    with deps.db.connect() as conn:
        earliest = bill_repository.earliest_postpaid_activation(conn)
    found: list[tuple[str, int]] = []
    for cycle_id, first_activation in sorted(earliest.items()):
        cycle = catalog.bill_cycles[cycle_id]
        _start, end = period_containing(first_activation, cycle.cycle_day, tz)
        while end <= now:
            local_end = to_local(end, tz)
            found.append((f"{local_end.year:04d}-{local_end.month:02d}", cycle_id))
            _start, end = period_containing(end, cycle.cycle_day, tz)
    return sorted(found)


def run_past_bill_runs(deps: Deps, *, workers: int = 1) -> list[BillRunSummary]:
    """The bill runs of every cycle for each past period since the earliest activation, up to
    the last complete period; invoices dated at the end of their period."""
    with deps.db.connect() as conn:
        catalog = load_catalog(conn)
    summaries = []
    for period, cycle_id in past_periods(deps, catalog):
        year, month = parse_period(period)
        _start, end = period_ending_in(
            year, month, catalog.bill_cycles[cycle_id].cycle_day, deps.settings.tz
        )
        summaries.append(
            run_bill_run(deps, period, cycle_id, workers=workers, actor="demo-data", issued_at=end)
        )
    return summaries
