"""`microbss engine resources import --type msisdn|imsi|handset FILE`: add numbers, SIM cards
(IMSIs) or handsets to the inventory from a CSV file."""

from __future__ import annotations

import argparse
from pathlib import Path

from microbss.engine.cli.actor import cli_actor
from microbss.engine.deps import build_deps
from microbss.engine.domain.resource import ResourceType
from microbss.engine.jobs.resource_import import import_resources


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("resources", help="manage the MSISDN/IMSI/handset inventory")
    actions = parser.add_subparsers(dest="resources_action", required=True, metavar="ACTION")
    importer = actions.add_parser(
        "import",
        help="import a CSV file: one value per line (handsets: IMEI[,model]), header optional",
    )
    importer.add_argument(
        "--type",
        required=True,
        choices=[t.value.lower() for t in ResourceType],
        help="what the file lists",
    )
    importer.add_argument("file", type=Path)
    importer.set_defaults(handler=handle_import)


def handle_import(args: argparse.Namespace) -> int:
    deps = build_deps()
    report = import_resources(deps, ResourceType(args.type.upper()), args.file, cli_actor())
    print(report)
    return 0
