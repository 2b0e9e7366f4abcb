"""TOTP shared secrets encrypted at rest in ``csr_users``.

A database dump or backup alone does not give away anyone's second factor: the column holds a
Fernet token (AES-128-CBC + HMAC-SHA256, from `cryptography`), and the key lives only in the
CRM's configuration. The key is derived with HKDF-SHA256 from ``MICROBSS_CRM_TOTP_KEY`` or, when
that is unset, from Django's ``SECRET_KEY``. ``MICROBSS_CRM_TOTP_KEY`` may list several keys
separated by commas: the first one encrypts, every one of them decrypts, so a key is rotated by
putting the new key first and running ``microbss crm manage reseal_totp_secrets``.

A token that no configured key opens (the key was changed without keeping the old one) reads
as "no secret": the user's codes are refused and the error is logged, until an admin resets
that user's MFA. Nothing falls back to reading the column as plain text.
"""

from __future__ import annotations

import base64
import logging
from typing import Any

from cryptography.fernet import Fernet, InvalidToken, MultiFernet
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.hkdf import HKDF
from django.conf import settings
from django.db import models

log = logging.getLogger(__name__)

# Every Fernet token starts with its version byte 0x80, "gAAAAA" in base64; a base32 TOTP secret
# (A-Z, 2-7) never does, which tells the data migration which rows are still plain text.
TOKEN_PREFIX = "gAAAAA"
_HKDF_INFO = b"microbss crm: TOTP secrets at rest"


def fernet_key(passphrase: str) -> bytes:
    """A Fernet key (32 random-looking bytes, base64) derived from any configured text."""
    derived = HKDF(algorithm=hashes.SHA256(), length=32, salt=None, info=_HKDF_INFO).derive(
        passphrase.encode("utf-8")
    )
    return base64.urlsafe_b64encode(derived)


def configured_passphrases() -> list[str]:
    raw = getattr(settings, "MICROBSS_CRM_TOTP_KEY", "") or ""
    keys = [key.strip() for key in raw.split(",") if key.strip()]
    return keys or [settings.SECRET_KEY]


def _box() -> MultiFernet:
    return MultiFernet([Fernet(fernet_key(key)) for key in configured_passphrases()])


def seal(secret: str) -> str:
    """The secret encrypted with the first configured key; "" stays "" (no secret)."""
    if not secret:
        return ""
    return _box().encrypt(secret.encode("utf-8")).decode("ascii")


def unseal(token: str) -> str:
    """The secret in ``token``, or "" when no configured key opens it (logged)."""
    if not token:
        return ""
    try:
        return _box().decrypt(token.encode("ascii")).decode("utf-8")
    except (InvalidToken, UnicodeError):
        log.error(
            "a stored TOTP secret cannot be decrypted with the configured key(s) "
            "(MICROBSS_CRM_TOTP_KEY / SECRET_KEY changed?); that user needs an MFA reset"
        )
        return ""


def reseal(token: str) -> str:
    """``token`` encrypted again with the first configured key (key rotation)."""
    if not token:
        return ""
    return _box().rotate(token.encode("ascii")).decode("ascii")


def is_sealed(stored: str) -> bool:
    return stored.startswith(TOKEN_PREFIX)


class SealedSecretField(models.CharField):  # type: ignore[type-arg]
    """A text field whose value is encrypted in the database and plain in Python.

    Models read and write the plain secret; only :func:`seal` output reaches the column. The
    column must be wide enough for a token (a 32-character secret becomes 140 characters).
    """

    def from_db_value(self, value: Any, expression: Any, connection: Any) -> Any:
        if value is None:
            return value
        return unseal(value)

    def get_prep_value(self, value: Any) -> Any:
        value = super().get_prep_value(value)
        if value is None:
            return value
        return seal(value)
