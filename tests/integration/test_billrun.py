"""The monthly bill run against a real database (SQLite, and PostgreSQL when configured): one bill
per due subscriber with the right totals, gapless numbers, a PDF per bill and a bill per PDF,
and exactly once under reruns, concurrent runs and a SIGKILL midway."""

from __future__ import annotations

import hashlib
import subprocess
from datetime import datetime
from pathlib import Path

import pytest
from sqlalchemy import func, select, update

from microbss.engine.deps import Deps
from microbss.engine.domain.billing import invoice_number_sequence
from microbss.engine.domain.errors import FailedPrecondition, InvalidArgument, NotFound
from microbss.engine.domain.money import format_amount
from microbss.engine.jobs.billrun import run_bill_run, run_past_bill_runs
from microbss.engine.jobs.cdr_loader import load_cdr_files
from microbss.engine.services.billing import terminate_subscriber
from microbss.engine.storage.tables import bill_lines, bill_runs, bills, rated_cdrs, subscribers
from tests.integration.billing_data import (
    CYCLE_FIFTEENTH,
    PREPAID_PLAN,
    add_cdrs,
    add_subscribers,
    db_url,
    expected_monthly_total,
    install_catalog,
    invoice_files,
    run_billrun_process,
    stray_temp_files,
)

# Period 2026-01 of the 1st-of-month cycle: December 2025, Madrid time.
DEC_START = datetime(2025, 11, 30, 23)  # 2025-12-01 00:00 Madrid (UTC+1)
DEC_END = datetime(2025, 12, 31, 23)  # 2026-01-01 00:00 Madrid
JAN_END = datetime(2026, 1, 31, 23)
FULL_MONTH_LINES = 60
MID_ACTIVATION = datetime(2025, 12, 17, 10)  # counts Dec 17..31: 15 of 31 days
TERMINATION = datetime(2025, 12, 10, 12)  # counts Dec 1..10: 10 of 31 days


@pytest.fixture
def december(deps: Deps) -> dict[int, int]:
    """62 postpaid lines with December usage (and some January usage); subscriber id ->
    expected December total."""
    install_catalog(deps)
    deps.clock = lambda: datetime(2026, 2, 10, 12)
    expected: dict[int, int] = {}
    for subscriber_id in add_subscribers(deps, FULL_MONTH_LINES, DEC_START):
        usage = add_cdrs(deps, subscriber_id, 5, datetime(2025, 12, 3, 9), charge=37)
        add_cdrs(deps, subscriber_id, 1, datetime(2026, 1, 5, 9), charge=50)  # next period
        expected[subscriber_id] = expected_monthly_total(deps, DEC_START, DEC_START, DEC_END, usage)
    (mid,) = add_subscribers(deps, 1, MID_ACTIVATION, first_msisdn=34610000000)
    expected[mid] = expected_monthly_total(
        deps, MID_ACTIVATION, DEC_START, DEC_END, add_cdrs(deps, mid, 3, datetime(2025, 12, 18, 9))
    )
    (leaver,) = add_subscribers(deps, 1, DEC_START, first_msisdn=34620000000)
    usage = add_cdrs(deps, leaver, 2, datetime(2025, 12, 4, 9))
    with deps.db.begin() as conn:
        conn.execute(
            update(subscribers)
            .where(subscribers.c.id == leaver)
            .values(status="TERMINATED", terminated_at=TERMINATION)
        )
    expected[leaver] = expected_monthly_total(deps, DEC_START, DEC_START, TERMINATION, usage)
    add_subscribers(deps, 3, DEC_START, plan=PREPAID_PLAN, cycle=None, first_msisdn=34630000000)
    return expected


def _bill_totals(deps: Deps) -> dict[int, int]:
    with deps.db.connect() as conn:
        rows = conn.execute(select(bills.c.subscriber_id, bills.c.net_total_minor)).all()
    totals: dict[int, int] = {}
    for subscriber_id, total in rows:
        assert subscriber_id not in totals, f"subscriber {subscriber_id} has two bills"
        totals[subscriber_id] = total
    return totals


def _assert_books_are_consistent(deps: Deps) -> None:
    """Gapless numbers, every bill ISSUED with its PDF (right checksum), every PDF with a bill,
    and each bill's total the sum of its lines."""
    with deps.db.connect() as conn:
        rows = conn.execute(select(bills)).all()
        line_sums = dict(
            conn.execute(
                select(bill_lines.c.bill_id, func.sum(bill_lines.c.amount_minor)).group_by(
                    bill_lines.c.bill_id
                )
            ).all()
        )
    numbers = sorted(invoice_number_sequence(row.invoice_number) for row in rows)
    assert numbers == list(range(1, len(rows) + 1))
    assert {row.status for row in rows} <= {"ISSUED"}
    assert {row.pdf_path for row in rows} == invoice_files(deps)
    for row in rows:
        pdf = (deps.settings.data_dir / row.pdf_path).read_bytes()
        assert pdf.startswith(b"%PDF-")
        assert hashlib.sha256(pdf).hexdigest() == row.pdf_sha256
        assert line_sums.get(row.id, 0) == row.net_total_minor
    assert stray_temp_files(deps) == []


def test_a_bill_run_bills_every_due_postpaid_line_once_with_prorated_fee_and_usage(
    deps: Deps, december: dict[int, int]
) -> None:
    summary = run_bill_run(deps, "2026-01")

    assert summary.bills_created == len(december)
    assert _bill_totals(deps) == december
    assert summary.totals == {"EUR": sum(december.values())}
    _assert_books_are_consistent(deps)
    with deps.db.connect() as conn:
        unbilled_january = conn.execute(
            select(func.count()).where(rated_cdrs.c.bill_id.is_(None))
        ).scalar_one()
        run = conn.execute(select(bill_runs)).one()
    assert unbilled_january == FULL_MONTH_LINES  # January usage waits for January's bill
    assert (run.status, run.bills_created) == ("DONE", len(december))


def test_the_invoice_folder_follows_year_month_subscriber_and_number(
    deps: Deps, december: dict[int, int]
) -> None:
    run_bill_run(deps, "2026-01")
    with deps.db.connect() as conn:
        row = conn.execute(select(bills).order_by(bills.c.id).limit(1)).one()
    assert row.pdf_path == f"invoices/2026/01/{row.subscriber_id}/{row.invoice_number}.pdf"
    assert row.invoice_number == "INV-2026-000001"


def test_rerunning_a_period_adds_nothing(deps: Deps, december: dict[int, int]) -> None:
    run_bill_run(deps, "2026-01")
    again = run_bill_run(deps, "2026-01")

    assert again.bills_created == 0
    assert _bill_totals(deps) == december
    _assert_books_are_consistent(deps)


def test_the_next_month_bills_only_what_came_after(deps: Deps, december: dict[int, int]) -> None:
    run_bill_run(deps, "2026-01")
    deps.clock = lambda: datetime(2026, 2, 10, 12)
    february = run_bill_run(deps, "2026-02")

    # Full-month lines: January's fee and the one January call; the leaver is not billed again.
    assert february.bills_created == len(december) - 1
    assert february.totals == {"EUR": (len(december) - 1) * 2000 + FULL_MONTH_LINES * 50}
    _assert_books_are_consistent(deps)


def test_two_workers_bill_exactly_what_one_worker_bills(
    deps: Deps, december: dict[int, int]
) -> None:
    summary = run_bill_run(deps, "2026-01", workers=2)

    assert summary.bills_created == len(december)
    assert _bill_totals(deps) == december
    _assert_books_are_consistent(deps)


def test_two_bill_runs_at_once_make_one_bill_per_subscriber(
    deps: Deps, december: dict[int, int]
) -> None:
    runs = [run_billrun_process(deps, "2026-01") for _ in range(2)]
    outputs = [run.communicate(timeout=300) for run in runs]

    assert [run.returncode for run in runs] == [0, 0], outputs
    assert sum(int(out.strip()) for out, _err in outputs) == len(december)
    assert _bill_totals(deps) == december
    _assert_books_are_consistent(deps)


@pytest.mark.parametrize(
    ("die_on", "after"),
    [
        pytest.param("pdf", 55, id="while-writing-pdfs"),
        pytest.param("transaction", 2, id="inside-a-write-transaction"),
    ],
)
def test_a_run_killed_midway_and_run_again_ends_like_a_clean_run(
    deps: Deps, december: dict[int, int], die_on: str, after: int
) -> None:
    killed = run_billrun_process(deps, "2026-01", die_on=die_on, die_after_calls=after)
    killed.communicate(timeout=300)
    assert killed.returncode == -9  # SIGKILL, not a clean exit
    with deps.db.connect() as conn:
        statuses = dict(
            conn.execute(select(bills.c.status, func.count()).group_by(bills.c.status)).all()
        )
    drafts, issued = statuses.get("DRAFT", 0), statuses.get("ISSUED", 0)
    assert drafts + issued > 0 and issued < len(december)  # killed midway

    rerun = run_bill_run(deps, "2026-01")

    assert rerun.drafts_finished == drafts
    assert _bill_totals(deps) == december
    _assert_books_are_consistent(deps)


def test_a_period_that_has_not_ended_is_refused(deps: Deps, december: dict[int, int]) -> None:
    with pytest.raises(FailedPrecondition, match="has not come yet") as err:
        run_bill_run(deps, "2026-03")
    assert err.value.field == "period"
    assert _bill_totals(deps) == {}


@pytest.mark.parametrize("period", ["2026-13", "2026-1", "January", ""])
def test_a_malformed_period_is_refused_naming_the_period(deps: Deps, period: str) -> None:
    install_catalog(deps)
    with pytest.raises(InvalidArgument) as err:
        run_bill_run(deps, period)
    assert err.value.field == "period"


def test_an_unknown_bill_cycle_is_refused(deps: Deps) -> None:
    install_catalog(deps)
    with pytest.raises(NotFound, match="bill cycle 99"):
        run_bill_run(deps, "2026-01", bill_cycle_id=99)


def test_a_cycle_run_bills_only_that_cycle(deps: Deps) -> None:
    install_catalog(deps)
    deps.clock = lambda: datetime(2026, 2, 20)
    on_first = add_subscribers(deps, 2, DEC_START)
    on_fifteenth = add_subscribers(
        deps, 2, datetime(2025, 12, 14, 23), cycle=CYCLE_FIFTEENTH, first_msisdn=34640000000
    )

    summary = run_bill_run(deps, "2026-01", bill_cycle_id=CYCLE_FIFTEENTH)

    assert set(_bill_totals(deps)) == set(on_fifteenth)
    assert summary.totals == {"EUR": 2 * 2000}  # Dec 15 - Jan 14: one full period each
    assert not set(_bill_totals(deps)) & set(on_first)


def test_past_bill_runs_bill_every_complete_period_since_the_first_activation(
    deps: Deps,
) -> None:
    install_catalog(deps)
    deps.clock = lambda: datetime(2026, 3, 5, 12)
    (line,) = add_subscribers(deps, 1, datetime(2025, 12, 17, 10))
    add_cdrs(deps, line, 4, datetime(2026, 1, 20, 9), charge=25)

    summaries = run_past_bill_runs(deps)

    # Cycle 1: periods ending Jan 1, Feb 1 and Mar 1; cycle 2 has no subscribers.
    assert [s.period for s in summaries] == ["2026-01", "2026-02", "2026-03"]
    assert [s.bills_created for s in summaries] == [1, 1, 1]
    assert [s.totals["EUR"] for s in summaries] == [968, 2000 + 100, 2000]
    _assert_books_are_consistent(deps)
    with deps.db.connect() as conn:
        issued = conn.scalars(select(bills.c.issued_at).order_by(bills.c.id)).all()
    assert issued == [DEC_END, JAN_END, datetime(2026, 2, 28, 23)]


def test_the_billrun_command_prints_progress_and_a_summary(
    deps: Deps,
    december: dict[int, int],
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    from microbss.engine.cli import main

    monkeypatch.setenv("MICROBSS_DATA_DIR", str(deps.settings.data_dir))
    monkeypatch.setenv("MICROBSS_ENGINE_DB_URL", db_url(deps))
    monkeypatch.setenv("MICROBSS_SECRET", "test-secret")

    assert main(["billrun", "--period", "2026-01", "--billcycle", "1"]) == 0

    out = capsys.readouterr().out
    assert "62 subscriber(s) due" in out
    assert "62/62 subscribers handled" in out
    assert "bills created: 62" in out
    assert f"total billed: {format_amount(sum(december.values()), 'EUR')}" in out


def test_the_billrun_command_explains_a_bad_period_and_exits_2(
    deps: Deps, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    from microbss.engine.cli import main

    install_catalog(deps)
    monkeypatch.setenv("MICROBSS_DATA_DIR", str(deps.settings.data_dir))
    monkeypatch.setenv("MICROBSS_ENGINE_DB_URL", db_url(deps))

    assert main(["billrun", "--period", "2026/01"]) == 2
    assert "error: period: '2026/01' is not a period like 2026-03" in capsys.readouterr().err


# --- Usage that arrives after a line's final bill --------------------------------------------


def _pdf_text(path: Path) -> str:
    return subprocess.run(
        ["pdftotext", "-layout", str(path), "-"], capture_output=True, text=True, check=True
    ).stdout


def test_usage_that_arrives_after_the_final_bill_is_billed_once_by_the_next_run_without_a_fee(
    deps: Deps, tmp_path: Path
) -> None:
    install_catalog(deps)
    (leaver,) = add_subscribers(deps, 1, DEC_START)
    add_cdrs(deps, leaver, 2, datetime(2025, 12, 4, 9), charge=37)
    deps.clock = lambda: TERMINATION
    final = terminate_subscriber(deps, "csr:test", leaver, "moving abroad").final_bill
    assert final is not None
    # Ten days later a roaming partner's file brings an SMS sent the day before termination.
    deps.clock = lambda: datetime(2025, 12, 20, 9)
    late_file = tmp_path / "late.csv"
    late_file.write_text(
        "cdr_id,msisdn,service,start_time,quantity,other_party,zone\n"
        "LATE-1,34600000000,SMS,2025-12-09T18:30:00+01:00,1,34911000000,NATIONAL\n",
        encoding="utf-8",
    )
    assert load_cdr_files(deps, [late_file], progress=False).rated == 1

    deps.clock = lambda: datetime(2026, 2, 10, 12)
    december_run = run_bill_run(deps, "2026-01")
    january_run = run_bill_run(deps, "2026-02")
    december_rerun = run_bill_run(deps, "2026-01")

    # One supplementary final bill: the SMS (10 cents) and no monthly fee; nothing after it.
    assert december_run.bills_created == 1 and december_run.totals == {"EUR": 10}
    assert january_run.bills_created == 0 and december_rerun.bills_created == 0
    with deps.db.connect() as conn:
        late = conn.execute(select(bills).where(bills.c.id != final.id)).one()
        kinds = conn.scalars(select(bill_lines.c.kind).where(bill_lines.c.bill_id == late.id))
        carried_by = conn.scalar(
            select(rated_cdrs.c.bill_id).where(rated_cdrs.c.cdr_id == "LATE-1")
        )
    assert (late.kind, late.net_total_minor, list(kinds)) == ("FINAL", 10, ["USAGE"])
    assert (late.period_start, late.period_end) == (datetime(2025, 12, 9, 17, 30), TERMINATION)
    assert carried_by == late.id
    assert "Final invoice, late usage" in _pdf_text(deps.settings.data_dir / late.pdf_path)
    _assert_books_are_consistent(deps)


def _load_late_sms(deps: Deps, folder: Path, cdr_id: str, local_start: str) -> None:
    """A roaming partner's file with one SMS of the line 34600000000, loaded now."""
    late_file = folder / f"{cdr_id}.csv"
    late_file.write_text(
        "cdr_id,msisdn,service,start_time,quantity,other_party,zone\n"
        f"{cdr_id},34600000000,SMS,{local_start},1,34911000000,NATIONAL\n",
        encoding="utf-8",
    )
    assert load_cdr_files(deps, [late_file], progress=False).rated == 1


def test_late_usage_from_the_first_instant_of_the_final_bill_keeps_its_true_period_start(
    deps: Deps, tmp_path: Path
) -> None:
    install_catalog(deps)
    (leaver,) = add_subscribers(deps, 1, DEC_START)
    add_cdrs(deps, leaver, 2, datetime(2025, 12, 4, 9), charge=37)
    deps.clock = lambda: TERMINATION
    final = terminate_subscriber(deps, "csr:test", leaver, "moving abroad").final_bill
    assert final is not None and final.period_start == DEC_START
    # Two deliveries, a run after each, of SMS sent at the very instant the final bill starts.
    deps.clock = lambda: datetime(2026, 1, 20, 9)
    _load_late_sms(deps, tmp_path, "LATE-A", "2025-12-01T00:00:00+01:00")
    deps.clock = lambda: datetime(2026, 2, 10, 12)
    first = run_bill_run(deps, "2026-01")
    _load_late_sms(deps, tmp_path, "LATE-B", "2025-12-01T00:00:00+01:00")
    second = run_bill_run(deps, "2026-02")

    assert (first.bills_created, second.bills_created) == (1, 1)
    with deps.db.connect() as conn:
        rows = conn.execute(
            select(bills.c.period_start, bills.c.supplement, bills.c.net_total_minor)
            .where(bills.c.id != final.id)
            .order_by(bills.c.id)
        ).all()
    assert [tuple(row) for row in rows] == [(DEC_START, 1, 10), (DEC_START, 2, 10)]
    _assert_books_are_consistent(deps)


def test_late_usage_of_a_line_that_ended_after_the_period_waits_for_its_own_period_run(
    deps: Deps, tmp_path: Path
) -> None:
    install_catalog(deps)
    (leaver,) = add_subscribers(deps, 1, DEC_START)
    deps.clock = lambda: datetime(2026, 1, 10, 12)  # after December's period: a January leaver
    final = terminate_subscriber(deps, "csr:test", leaver, "moving abroad").final_bill
    assert final is not None
    deps.clock = lambda: datetime(2026, 1, 20, 9)
    _load_late_sms(deps, tmp_path, "LATE-1", "2026-01-09T18:30:00+01:00")

    deps.clock = lambda: datetime(2026, 2, 10, 12)
    december_run = run_bill_run(deps, "2026-01")  # run late, after the late SMS was loaded
    january_run = run_bill_run(deps, "2026-02")

    assert (december_run.bills_created, january_run.bills_created) == (0, 1)
    assert january_run.totals == {"EUR": 10}
    _assert_books_are_consistent(deps)
