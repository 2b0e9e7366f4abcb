"""Time-based one-time passwords (RFC 6238) for the CRM's second login factor.

Codes are 6 digits over 30-second steps with HMAC-SHA1, what every standard authenticator app
uses. A code is accepted for the current step or one step either side (clock drift), and only for
a step later than the last one accepted for that user: the same code, or an older one, is a
replay and is refused.
"""

from __future__ import annotations

import hmac
from datetime import datetime

import pyotp
import segno

ISSUER = "microbss"
STEP_SECONDS = 30
DIGITS = 6
DRIFT_STEPS = 1
# 32 base32 characters = 160 bits, the key length RFC 4226 recommends for HMAC-SHA1.
SECRET_BASE32_CHARS = 32


def new_secret() -> str:
    """A fresh random shared secret, base32 as authenticator apps expect it."""
    return pyotp.random_base32(length=SECRET_BASE32_CHARS)


def provisioning_uri(secret: str, username: str) -> str:
    """The otpauth:// URI an authenticator app reads from the QR code."""
    return pyotp.TOTP(secret, digits=DIGITS, interval=STEP_SECONDS).provisioning_uri(
        name=username, issuer_name=ISSUER
    )


def qr_code_svg(uri: str) -> str:
    """The URI as an inline SVG QR code, drawn on the server (no image service involved)."""
    return str(segno.make(uri, error="m").svg_inline(scale=5, border=2, dark="#000", light="#fff"))


def step_at(at: datetime) -> int:
    """The 30-second step number containing the instant ``at`` (an aware datetime)."""
    return int(at.timestamp()) // STEP_SECONDS


def code_for_step(secret: str, step: int, digits: int = DIGITS) -> str:
    return str(pyotp.TOTP(secret, digits=digits, interval=STEP_SECONDS).generate_otp(step))


def normalise_code(raw: str) -> str:
    """What the user typed, without the spaces and dashes some apps display in a code."""
    return "".join(ch for ch in raw if ch not in " -\u00a0")


def matching_step(
    secret: str, code: str, at: datetime, last_step: int, digits: int = DIGITS
) -> int | None:
    """The step whose code equals ``code`` near ``at`` and after ``last_step``, or None.

    Every candidate step is compared in constant time, so the answer's timing says nothing
    about which step (if any) matched.
    """
    code = normalise_code(code)
    if not secret or len(code) != digits or not code.isdigit():
        return None
    current = step_at(at)
    found: int | None = None
    for step in range(current - DRIFT_STEPS, current + DRIFT_STEPS + 1):
        expected = code_for_step(secret, step, digits)
        if hmac.compare_digest(expected, code) and step > last_step and found is None:
            found = step
    return found
