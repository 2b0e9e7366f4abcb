"""`microbss engine cdr load PATH...`: load, rate and store CDR files, then print a summary.

Exit codes: 0 when every file was read (even if some rows were rejected: they are in the reject
files), 2 when a path does not exist or a file could not be read at all.
"""

from __future__ import annotations

import argparse

from microbss.engine.cli import CliError
from microbss.engine.deps import build_deps
from microbss.engine.jobs.cdr_formats import PARSERS
from microbss.engine.jobs.cdr_loader import (
    DEFAULT_BATCH_SIZE,
    CdrFileError,
    load_cdr_files,
)


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("cdr", help="load and rate CDR files")
    actions = parser.add_subparsers(dest="cdr_command", required=True, metavar="ACTION")
    load = actions.add_parser(
        "load",
        help="load CDR files, folders or .gz files; bad rows go to <file>.rejects.csv",
        description="Rate every good row exactly once (loading a file again adds nothing); "
        "write bad rows with their line number and reason to <file>.rejects.csv.",
    )
    load.add_argument("paths", nargs="+", metavar="PATH", help="CDR file, folder or .gz file")
    load.add_argument(
        "--format",
        choices=sorted(PARSERS),
        default="csv",
        help="csv: microbss CSV (see docs/cdr-format.md); asterisk: Asterisk Master.csv",
    )
    load.add_argument(
        "--timezone",
        default=None,
        metavar="ZONE",
        help="time zone of the switch's local times (asterisk), e.g. Europe/Madrid, or UTC "
        "when it logs GMT (usegmtime=yes); default: the operator's zone",
    )
    load.add_argument(
        "--batch-size",
        type=int,
        default=DEFAULT_BATCH_SIZE,
        metavar="N",
        help=f"rows per transaction (default {DEFAULT_BATCH_SIZE})",
    )
    load.set_defaults(handler=handle_load)


def handle_load(args: argparse.Namespace) -> int:
    deps = build_deps()
    try:
        summary = load_cdr_files(
            deps,
            args.paths,
            fmt=args.format,
            timezone=args.timezone,
            batch_size=args.batch_size,
        )
    except CdrFileError as exc:
        raise CliError(str(exc)) from None
    for line in summary.lines():
        print(line)
    return 2 if summary.unreadable else 0
