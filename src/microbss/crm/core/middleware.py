"""Middleware of the CRM: the Content-Security-Policy header and each user's preferences.

``user_preferences`` applies the signed-in user's language and theme (stored on their row and
loaded with the session's user, so no extra query) to every page.
"""

from __future__ import annotations

from collections.abc import Callable

from django.conf import settings
from django.http import HttpRequest, HttpResponse
from django.utils import translation

Handler = Callable[[HttpRequest], HttpResponse]


def content_security_policy(get_response: Handler) -> Handler:
    """Adds CSP and Permissions-Policy headers to every response that has none yet."""
    policy = str(settings.CONTENT_SECURITY_POLICY)

    def middleware(request: HttpRequest) -> HttpResponse:
        response = get_response(request)
        response.headers.setdefault("Content-Security-Policy", policy)
        response.headers.setdefault(
            "Permissions-Policy", "camera=(), microphone=(), geolocation=(), payment=()"
        )
        return response

    return middleware


def user_preferences(get_response: Handler) -> Handler:
    """Activates the user's language and exposes their theme as ``request.theme``."""

    def middleware(request: HttpRequest) -> HttpResponse:
        user = getattr(request, "user", None)
        theme = "light"
        if user is not None and user.is_authenticated:
            translation.activate(user.language)
            request.LANGUAGE_CODE = translation.get_language()
            theme = user.theme
        request.theme = theme  # type: ignore[attr-defined]
        return get_response(request)

    return middleware
