"""The CRM's Django secret key when the operator has not set one: generated once, kept private.

The key is written to a file readable only by its owner (mode 0600). Several gunicorn workers may
start at once, so the file is created atomically: the key is written to a private temporary file
and hard-linked into place; whoever loses the race reads the winner's key.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Callable
from pathlib import Path


def load_or_create_secret_key(path: Path, generate: Callable[[], str]) -> str:
    """The key stored at ``path``, creating it with ``generate()`` the first time."""
    existing = _read(path)
    if existing:
        return existing
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(f".{path.name}.{os.getpid()}")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        with os.fdopen(fd, "w", encoding="ascii") as handle:
            handle.write(generate())
        # If another worker won the race, its key is the one everybody uses.
        with contextlib.suppress(FileExistsError):
            os.link(temporary, path)
    finally:
        temporary.unlink(missing_ok=True)
    key = _read(path)
    if not key:
        raise RuntimeError(f"could not read the CRM secret key from {path}")
    return key


def _read(path: Path) -> str:
    try:
        return path.read_text(encoding="ascii").strip()
    except FileNotFoundError:
        return ""
