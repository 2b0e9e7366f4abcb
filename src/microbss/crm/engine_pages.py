"""How engine failures look to a CSR: the ``engine_view`` decorator for every view that calls it.

An engine that is down or too slow gives a 503 page with a banner ("The charging engine is not
reachable; try again in a minute"), never a stack trace; a refused token gives a 503 that tells
the operator what to fix; an unexpected engine error a 502; "not found" a 404; any other refusal
the engine's words (in the page's language when the CRM knows the refusal, see
``refusals``) with a 4xx status. htmx requests get the banner alone, to show in place.
Pages that need no engine (login, profile, users, audit) never pass through here, so they keep
working while the engine is away.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from functools import wraps
from typing import Any, TypeVar, cast

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils.translation import gettext as _

from microbss.crm.engine_client import (
    EngineError,
    EngineFailed,
    EngineMisconfigured,
    EngineRejected,
    EngineUnavailable,
)
from microbss.crm.refusals import refusal_summary

View = TypeVar("View", bound=Callable[..., HttpResponse])
log = logging.getLogger(__name__)

_REJECTION_STATUS = {
    "INVALID_ARGUMENT": 400,
    "OUT_OF_RANGE": 400,
    "ALREADY_EXISTS": 409,
    "FAILED_PRECONDITION": 409,
    "RESOURCE_EXHAUSTED": 429,
}


def is_htmx(request: HttpRequest) -> bool:
    return request.headers.get("HX-Request") == "true"


def engine_error_response(request: HttpRequest, error: EngineError) -> HttpResponse:
    """The page (or, for htmx, the fragment) that explains ``error`` to the user."""
    if isinstance(error, EngineRejected) and error.not_found:
        raise Http404(error.message)
    if isinstance(error, EngineUnavailable):
        log.warning("engine unavailable: %s", error)
        title, message, status = (
            _("Charging engine unavailable"),
            _("The charging engine is not reachable; try again in a minute."),
            503,
        )
    elif isinstance(error, EngineMisconfigured):
        log.error("engine configuration: %s", error)
        title, message, status = (
            _("Charging engine refused the CRM"),
            _(
                "The engine rejected the CRM's token. An administrator must set "
                "MICROBSS_ENGINE_TOKEN to the engine's token."
            ),
            503,
        )
    elif isinstance(error, EngineRejected):
        title, message, status = (
            _("The charging engine refused this"),
            refusal_summary(error),
            _REJECTION_STATUS.get(error.code, 400),
        )
    else:
        log.error("engine error: %s", error)
        title, message, status = (
            _("The charging engine reported an error"),
            _("The engine could not complete the request (%(detail)s). Try again later.")
            % {"detail": str(error) if isinstance(error, EngineFailed) else ""},
            502,
        )
    template = "engine/_banner.html" if is_htmx(request) else "engine/error.html"
    context = {"title": title, "message": message, "status": status}
    return render(request, template, context, status=status)


def engine_view(view: View) -> View:
    """Turn the engine's failures raised inside ``view`` into a clear page with the right status."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        try:
            return view(request, *args, **kwargs)
        except EngineError as error:
            return engine_error_response(request, error)

    return cast(View, wrapper)
