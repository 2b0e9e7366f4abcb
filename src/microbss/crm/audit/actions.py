"""Writing audit rows. Every CRM write calls :func:`record` inside its own transaction.

Details are checked before they are stored: a key that names a secret (password, TOTP secret or
code, voucher PIN, token) is refused with an error, so a careless caller fails loudly in tests
instead of leaking a secret into the trail.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from django.http import HttpRequest

from microbss.crm.audit.models import AuditEvent, Result

# Words that, as a part of a details key ("new_password", "totp_code", "pin"), mark a secret.
_SECRET_WORDS = frozenset({"password", "passwd", "secret", "totp", "otp", "pin", "token"})
ANONYMOUS_ACTOR = "-"


def record(
    actor: Any,
    action: str,
    target: str = "",
    result: str = Result.OK,
    details: Mapping[str, Any] | None = None,
    request: HttpRequest | None = None,
) -> AuditEvent:
    """Store one audit row. ``actor`` is a user, a username string, or None (anonymous)."""
    clean = dict(details or {})
    _refuse_secrets(clean)
    return AuditEvent.objects.create(
        actor=_actor_name(actor)[:64],
        action=action[:64],
        target=str(target)[:200],
        result=str(result),
        client_address=client_address(request) if request is not None else "",
        details=clean,
    )


def client_address(request: HttpRequest) -> str:
    """The address of the client as the WSGI server saw it.

    X-Forwarded-For is deliberately not trusted here: anyone can send it, and this address feeds
    the per-address login throttle. Behind a reverse proxy, make the proxy the only way in and
    configure gunicorn's ``--forwarded-allow-ips`` so REMOTE_ADDR is the real client.
    """
    return str(request.META.get("REMOTE_ADDR", ""))[:64]


def _actor_name(actor: Any) -> str:
    if actor is None:
        return ANONYMOUS_ACTOR
    if isinstance(actor, str):
        return actor or ANONYMOUS_ACTOR
    return str(getattr(actor, "username", "") or ANONYMOUS_ACTOR)


def _refuse_secrets(details: Mapping[str, Any]) -> None:
    for key, value in details.items():
        words = set(key.lower().replace("-", "_").split("_"))
        if words & _SECRET_WORDS:
            raise ValueError(f"audit details must not carry secrets; refused key {key!r}")
        if isinstance(value, Mapping):
            _refuse_secrets(value)
