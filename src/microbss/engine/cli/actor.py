"""The audit actor of a command run from a shell: ``cli:<login user>``, as the audit trail's
convention asks (the API records the caller's ``x-actor`` instead)."""

from __future__ import annotations

import getpass


def cli_actor() -> str:
    try:
        return f"cli:{getpass.getuser()}"
    except (KeyError, OSError):  # no login name in a bare container
        return "cli:unknown"
