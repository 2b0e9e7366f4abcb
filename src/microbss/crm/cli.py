"""`microbss crm ...`: run and administer the CRM.

Commands:

- ``createadmin``: create an administrator (interactive, or ``--username`` with the password on
  standard input via ``--password-stdin``); prints nothing secret.
- ``migrate``: create or upgrade the CRM's database tables.
- ``serve``: serve the CRM with gunicorn on ``MICROBSS_CRM_LISTEN`` (default 127.0.0.1:8000).
- ``ensure-demo-admin``: when the CRM has no user at all, create the demo administrator ``admin``
  with a random password and print that login once.
- ``ensure-demo-vat``: when ``vat_config`` is empty, record the demo VAT rate (21.00%, Spain's
  general rate) in force from the first day of last year, so demo usage and bills show VAT.
- ``manage ARGS`` (or any other Django command name): Django's own management commands.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from typing import TextIO

DEFAULT_LISTEN = "127.0.0.1:8000"
DEFAULT_WORKERS = 2
DEMO_ADMIN = "admin"
DEMO_VAT_RATE = "21.00"
OWN_COMMANDS = (
    "createadmin",
    "migrate",
    "serve",
    "ensure-demo-admin",
    "ensure-demo-vat",
    "manage",
)


class CommandError(Exception):
    """A command could not do what was asked; the message says why, for the operator."""


def _setup_django() -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microbss.crm.settings")
    import django

    django.setup()


def _cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):
        return "cli"


# createadmin -----------------------------------------------------------------------------------


def create_admin(username: str, password: str, email: str = "") -> str:
    """Create an enabled administrator who must enrol MFA at first login; returns the username."""
    _setup_django()
    from django.contrib.auth.password_validation import validate_password
    from django.core.exceptions import ValidationError
    from django.db import transaction

    from microbss.crm.accounts.models import CsrUser, Role
    from microbss.crm.audit.actions import record

    username = username.strip()
    if not username:
        raise CommandError("the username must not be empty")
    if CsrUser.objects.filter(username__iexact=username).exists():
        raise CommandError(f"a user named {username!r} already exists")
    candidate = CsrUser(username=username, email=email, role=Role.ADMIN)
    try:
        validate_password(password, candidate)
    except ValidationError as invalid:
        raise CommandError("password refused: " + " ".join(invalid.messages)) from None
    with transaction.atomic():
        user = CsrUser.objects.create_user(username, password, email=email, role=Role.ADMIN)
        record(
            _cli_actor(), "user.create", target=f"user:{user.username}", details={"role": "ADMIN"}
        )
    return user.username


def _read_password(from_stdin: bool, stdin: TextIO) -> str:
    if from_stdin:
        return stdin.readline().rstrip("\r\n")
    first = getpass.getpass("Password (12 to 128 characters): ")
    if first != getpass.getpass("Password again: "):
        raise CommandError("the two passwords differ")
    return first


def _createadmin(args: argparse.Namespace, out: TextIO) -> int:
    username = args.username or input("Username: ")
    email = (
        args.email
        if args.email is not None
        else ("" if args.username else input("Email (optional): "))
    )
    password = _read_password(args.password_stdin, sys.stdin)
    created = create_admin(username, password, email)
    print(
        f"Administrator {created!r} created. Sign in and set up MFA at the first login.", file=out
    )
    return 0


# ensure-demo-admin -----------------------------------------------------------------------------


def ensure_demo_admin(out: TextIO = sys.stdout) -> bool:
    """Create the demo admin when the CRM has no user yet and print its login once.

    Returns True when it created the user (and printed the password), False when users exist.
    """
    _setup_django()
    from django.db import transaction

    from microbss.crm.accounts.actions import temporary_password
    from microbss.crm.accounts.models import CsrUser, Role
    from microbss.crm.audit.actions import record

    with transaction.atomic():
        if CsrUser.objects.exists():
            return False
        password = temporary_password()
        CsrUser.objects.create_user(
            DEMO_ADMIN, password, display_name="Demo admin", role=Role.ADMIN
        )
        record(
            _cli_actor(),
            "user.create",
            target=f"user:{DEMO_ADMIN}",
            details={"role": "ADMIN", "demo": True},
        )
    print(
        f"Demo administrator created. Username: {DEMO_ADMIN}  Password: {password}\n"
        "(shown only this once; you will set up an authenticator app at the first login)",
        file=out,
    )
    return True


# ensure-demo-vat -------------------------------------------------------------------------------


def ensure_demo_vat(out: TextIO = sys.stdout) -> bool:
    """Record the demo VAT rate when no rate was ever recorded; True when it did.

    The rate is in force from January 1st of last year, well before any demo usage (about four
    months back), so every demo usage row and bill shows its VAT. It is recorded by the first
    administrator, like any rate an admin adds; with no administrator yet nothing is recorded.
    """
    _setup_django()
    from datetime import date
    from decimal import Decimal

    from django.db import transaction
    from django.utils import timezone

    from microbss.crm.accounts.models import CsrUser, Role
    from microbss.crm.audit.actions import record
    from microbss.crm.vat.models import VatConfig

    with transaction.atomic():
        admin = CsrUser.objects.filter(role=Role.ADMIN).order_by("pk").first()
        if VatConfig.objects.exists() or admin is None:
            return False
        since = date(timezone.localdate().year - 1, 1, 1)
        row = VatConfig.objects.create(
            rate=Decimal(DEMO_VAT_RATE), effective_from=since, created_by=admin
        )
        record(
            _cli_actor(),
            "vat.add",
            target=f"vat:{row.pk}",
            details={"rate_percent": DEMO_VAT_RATE, "effective_from": since.isoformat()},
        )
    print(f"Demo VAT rate recorded: {DEMO_VAT_RATE}% from {since.isoformat()}", file=out)
    return True


# serve -----------------------------------------------------------------------------------------


def gunicorn_command(bind: str, workers: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "gunicorn",
        "microbss.crm.wsgi:application",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "--access-logfile",
        "-",
        # gunicorn's control socket would sit in the user's home and answer admin commands;
        # nothing here uses it.
        "--no-control-socket",
        "--error-logfile",
        "-",
        "--timeout",
        "90",  # long enough for on-demand billing, which waits on the engine (60 s deadline)
        "--graceful-timeout",
        "10",
    ]


def _serve(args: argparse.Namespace) -> int:
    bind = args.bind or os.environ.get("MICROBSS_CRM_LISTEN", "").strip() or DEFAULT_LISTEN
    workers_raw = os.environ.get("MICROBSS_CRM_WORKERS", str(DEFAULT_WORKERS)).strip()
    if not workers_raw.isdigit() or int(workers_raw) < 1:
        raise CommandError(
            f"MICROBSS_CRM_WORKERS must be a whole number of 1 or more, got {workers_raw!r}"
        )
    command = gunicorn_command(bind, int(workers_raw))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "microbss.crm.settings")
    os.execv(command[0], command)  # noqa: S606 -- replaces this process: Ctrl-C and signals reach gunicorn
    return 0  # pragma: no cover


# Django's own commands -------------------------------------------------------------------------


def _django(argv: list[str]) -> int:
    _setup_django()
    from django.core.management import execute_from_command_line

    execute_from_command_line(["microbss crm", *argv])
    return 0


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="microbss crm", description=__doc__.split("\n\n")[0])
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    create = commands.add_parser("createadmin", help="create an administrator")
    create.add_argument("--username")
    create.add_argument("--email")
    create.add_argument(
        "--password-stdin", action="store_true", help="read the password from standard input"
    )
    commands.add_parser("migrate", help="create or upgrade the CRM's tables")
    serve = commands.add_parser("serve", help="serve the CRM with gunicorn")
    serve.add_argument(
        "--bind", help=f"host:port (default MICROBSS_CRM_LISTEN or {DEFAULT_LISTEN})"
    )
    commands.add_parser("ensure-demo-admin", help="create the demo admin when there is no user")
    commands.add_parser("ensure-demo-vat", help="record the demo VAT rate when there is none")
    commands.add_parser("manage", help="Django's management commands, e.g. `manage check`")
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] == "manage":
        return _django(argv[1:])
    if argv and not argv[0].startswith("-") and argv[0] not in OWN_COMMANDS:
        return _django(argv)
    args = _parser().parse_args(argv)
    try:
        if args.command == "createadmin":
            return _createadmin(args, sys.stdout)
        if args.command == "migrate":
            return _django(["migrate", "--no-input"])
        if args.command == "serve":
            return _serve(args)
        if args.command == "ensure-demo-admin":
            ensure_demo_admin(sys.stdout)
            return 0
        if args.command == "ensure-demo-vat":
            ensure_demo_vat(sys.stdout)
            return 0
    except CommandError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except (EOFError, KeyboardInterrupt):
        print("error: cancelled", file=sys.stderr)
        return 2
    return 2
