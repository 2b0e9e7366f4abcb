"""`microbss engine serve`: migrate the database, then serve the gRPC API until SIGTERM."""

from __future__ import annotations

import argparse

from microbss.engine.api.server import serve
from microbss.engine.config import load_settings
from microbss.engine.deps import build_deps


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser(
        "serve", help="serve the gRPC API (migrates first; stops cleanly on SIGTERM)"
    )
    parser.add_argument(
        "--listen",
        metavar="ADDR",
        help="host:port to listen on (default: MICROBSS_ENGINE_LISTEN or 127.0.0.1:50051)",
    )
    parser.set_defaults(handler=handle)


def handle(args: argparse.Namespace) -> int:
    deps = build_deps(load_settings(), migrate=True)
    try:
        serve(deps, args.listen)
    finally:
        deps.db.dispose()
    return 0
