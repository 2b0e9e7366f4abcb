"""`microbss engine ...`: the engine's command line for batch work and operations.

Each sub-command lives in its own module with ``register(subparsers)``; its handler takes the
parsed arguments and returns an exit code. Errors the user can fix are printed as one line
("error: ...") with exit code 2; nothing prints a stack trace unless --debug is given.
"""

from __future__ import annotations

import argparse
import importlib
import logging
import sys

from microbss.engine.config import ConfigError
from microbss.engine.domain.errors import DomainError

COMMAND_MODULES = (
    "serve",
    "migrate",
    "catalog",
    "resources",
    "vouchers",
    "demo",
    "cdr",
    "billrun",
)

log = logging.getLogger("microbss.engine.cli")


class CliError(Exception):
    """A problem the user can fix (bad file, bad option); printed without a stack trace."""


def build_parser(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
    parser.add_argument("--debug", action="store_true", help="show stack traces on errors")
    subparsers = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMAND_MODULES:
        try:
            module = importlib.import_module(f"microbss.engine.cli.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"microbss.engine.cli.{name}":
                continue  # command not built yet
            raise
        module.register(subparsers)
    return parser


def run(args: argparse.Namespace) -> int:
    logging.basicConfig(
        level=logging.DEBUG if args.debug else logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    try:
        return int(args.handler(args) or 0)
    except (CliError, DomainError, ConfigError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except Exception:
        if args.debug:
            raise
        log.exception("unexpected error")
        print(
            "error: unexpected internal error (details in the log above; --debug for more)",
            file=sys.stderr,
        )
        return 1


def main(argv: list[str] | None = None) -> int:
    parser = build_parser(argparse.ArgumentParser(prog="microbss engine"))
    return run(parser.parse_args(argv))
