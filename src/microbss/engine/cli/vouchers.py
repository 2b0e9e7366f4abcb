"""`microbss engine vouchers generate --count N --value AMOUNT --batch NAME --out FILE`: create a
batch of prepaid vouchers and write their PINs once to a file for printing."""

from __future__ import annotations

import argparse
from datetime import date, timedelta
from pathlib import Path

from microbss.engine.cli import CliError
from microbss.engine.cli.actor import cli_actor
from microbss.engine.deps import build_deps
from microbss.engine.domain.money import parse_amount
from microbss.engine.domain.periods import local_midnight_utc
from microbss.engine.jobs.voucher_batch import generate_vouchers


def register(subparsers: argparse._SubParsersAction) -> None:
    parser = subparsers.add_parser("vouchers", help="generate prepaid voucher batches")
    actions = parser.add_subparsers(dest="vouchers_action", required=True, metavar="ACTION")
    gen = actions.add_parser(
        "generate", help="create vouchers and write their PINs to a new file (mode 0600)"
    )
    gen.add_argument("--count", type=int, required=True, help="how many vouchers (1..100000)")
    gen.add_argument("--value", required=True, help='face value, e.g. "10.00"')
    gen.add_argument("--batch", required=True, help="batch name: letters, digits, _ or -")
    gen.add_argument("--out", type=Path, required=True, help="PIN file to create (CSV)")
    gen.add_argument("--currency", default=None, help="ISO 4217 code (default: the operator's)")
    gen.add_argument(
        "--expires",
        default=None,
        metavar="YYYY-MM-DD",
        help="last day the vouchers can be redeemed (operator's time zone); default: never",
    )
    gen.set_defaults(handler=handle_generate)


def handle_generate(args: argparse.Namespace) -> int:
    deps = build_deps()
    currency = (args.currency or deps.settings.currency).upper()
    value_minor = parse_amount(args.value, currency, field="value")
    expires_at = None
    if args.expires:
        try:
            last_day = date.fromisoformat(args.expires)
        except ValueError:
            raise CliError(f"--expires {args.expires!r} is not a date like 2026-12-31") from None
        # Valid through the whole last day: it expires at the following local midnight.
        expires_at = local_midnight_utc(last_day + timedelta(days=1), deps.settings.tz)
    result = generate_vouchers(
        deps, args.count, value_minor, currency, args.batch, args.out, expires_at, cli_actor()
    )
    print(result)
    return 0
