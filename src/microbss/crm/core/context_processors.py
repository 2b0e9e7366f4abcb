"""Template context every CRM page needs: theme, role flags and the engine-down banner."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest

ADMIN_NAMESPACES = frozenset({"users", "vat", "audit", "vouchers", "catalog"})


def workspace(request: HttpRequest) -> dict[str, Any]:
    user = getattr(request, "user", None)
    signed_in = bool(user is not None and user.is_authenticated)
    return {
        "theme": getattr(request, "theme", "light"),
        "signed_in": signed_in and user.is_fully_signed_in,  # type: ignore[union-attr]
        "is_admin": signed_in and user.is_admin,  # type: ignore[union-attr]
        "engine_error": getattr(request, "engine_error", None),
        "in_admin_area": _namespace(request) in ADMIN_NAMESPACES,
    }


def _namespace(request: HttpRequest) -> str:
    match = getattr(request, "resolver_match", None)
    return str(match.namespace) if match is not None else ""
