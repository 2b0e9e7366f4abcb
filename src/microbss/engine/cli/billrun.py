"""`microbss engine billrun --period YYYY-MM [--billcycle ID] [--workers N]`: bill every due
postpaid subscriber for a period, with a progress bar on a terminal (plain lines otherwise) and a
summary. Safe to rerun: a finished period adds nothing, an interrupted one is completed.
"""

from __future__ import annotations

import argparse
import getpass
import sys
import time
from collections.abc import Callable

from tqdm import tqdm

from microbss.engine.deps import build_deps
from microbss.engine.domain.money import format_amount
from microbss.engine.jobs.billrun import BillRunSummary, run_bill_run

PLAIN_PROGRESS_EVERY_S = 5.0


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "billrun",
        help="bill the postpaid subscribers of a period (monthly bills with PDF invoices)",
        description="For each bill cycle, YYYY-MM is the period that ends on the cycle day of "
        "that month. Every due postpaid subscriber gets one bill and its PDF under "
        "$MICROBSS_DATA_DIR/invoices; rerunning the period adds nothing and completes an "
        "interrupted run.",
    )
    parser.add_argument("--period", required=True, metavar="YYYY-MM", help="e.g. 2026-03")
    parser.add_argument(
        "--billcycle",
        type=int,
        default=None,
        metavar="ID",
        help="only this bill cycle (default: every cycle)",
    )
    parser.add_argument(
        "--workers", type=int, default=1, metavar="N", help="processes sharing the work (default 1)"
    )
    parser.set_defaults(handler=handle)


class _PlainProgress:
    """Progress for logs and pipes: one line every few seconds, not a redrawn bar."""

    def __init__(self) -> None:
        self.total = 0
        self.done = 0
        self.last = time.monotonic()

    def plan(self, total: int) -> None:
        self.total = total
        print(f"{total} subscriber(s) due", flush=True)

    def advance(self, count: int) -> None:
        self.done += count
        if time.monotonic() - self.last >= PLAIN_PROGRESS_EVERY_S or self.done == self.total:
            self.last = time.monotonic()
            print(f"{self.done}/{self.total} subscribers handled", flush=True)


def _summary_lines(summary: BillRunSummary) -> list[str]:
    totals = ", ".join(format_amount(v, c) for c, v in sorted(summary.totals.items())) or "nothing"
    lines = [
        f"bill run {summary.bill_run_id}: period {summary.period}, bill cycle(s) "
        f"{', '.join(str(c) for c in summary.bill_cycle_ids)}",
        f"bills created: {summary.bills_created} ({summary.bills_per_second:.1f} bills/s, "
        f"{summary.seconds:.1f} s)",
        f"total billed: {totals}",
    ]
    if summary.cycles_not_over:
        lines.append(
            f"left out, period not over yet: bill cycle(s) "
            f"{', '.join(str(c) for c in summary.cycles_not_over)}"
        )
    if summary.drafts_finished:
        lines.append(f"interrupted bills completed: {summary.drafts_finished}")
    if summary.skipped:
        lines.append(
            f"skipped (billed by another run meanwhile, or nothing to bill): {summary.skipped}"
        )
    return lines


def handle(args: argparse.Namespace) -> int:
    deps = build_deps()
    actor = f"cli:{getpass.getuser()}"
    if sys.stderr.isatty():
        bar = tqdm(total=0, unit="subscriber", desc=f"bill run {args.period}")

        def plan(total: int) -> None:
            bar.total = total
            bar.refresh()

        advance: Callable[[int], None] = bar.update
        try:
            summary = run_bill_run(
                deps, args.period, args.billcycle, args.workers, advance, actor=actor, on_plan=plan
            )
        finally:
            bar.close()
    else:
        plain = _PlainProgress()
        summary = run_bill_run(
            deps,
            args.period,
            args.billcycle,
            args.workers,
            plain.advance,
            actor=actor,
            on_plan=plain.plan,
        )
    for line in _summary_lines(summary):
        print(line)
    return 0
