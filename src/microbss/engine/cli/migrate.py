"""`microbss engine migrate`: bring the engine database to the newest schema."""

from __future__ import annotations

import argparse

from microbss.engine.config import load_settings
from microbss.engine.deps import build_deps


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("migrate", help="create or upgrade the engine database schema")
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    settings = load_settings()
    build_deps(settings, migrate=True)
    print(f"engine database is up to date ({settings.database_url.split('@')[-1]})")
    return 0
