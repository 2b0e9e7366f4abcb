"""`microbss engine demo-data [--force]`: fill an empty engine database with demo data (catalog,
inventory, subscribers, vouchers, usage and past bills) for a first look."""

from __future__ import annotations

import argparse

from microbss.engine.deps import build_deps
from microbss.engine.jobs.demo_data import load_demo_data


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "demo-data", help="load demo catalog, inventory, subscribers, vouchers, usage and bills"
    )
    parser.add_argument(
        "--force",
        action="store_true",
        help="add the demo data even though the database already holds data",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    deps = build_deps()
    print(load_demo_data(deps, force=args.force))
    return 0
