"""The home page and the error pages (400, 403, 404, 500 and the CSRF failure page).

Error pages never show a stack trace: the traceback goes to the server log only.
"""

from __future__ import annotations

import logging
from typing import cast

from django.db.models import Count, Q
from django.http import HttpRequest, HttpResponse, HttpResponseServerError
from django.shortcuts import render
from django.template import loader
from django.views.decorators.http import require_GET

from microbss.crm.accounts.decorators import csr_required
from microbss.crm.accounts.models import CsrUser, Role
from microbss.crm.audit.models import AuditEvent
from microbss.crm.audit.wording import event_rows
from microbss.crm.vat.rates import current_vat_rate

log = logging.getLogger(__name__)
RECENT_EVENTS = 6


@csr_required
@require_GET
def home(request: HttpRequest) -> HttpResponse:
    user = cast(CsrUser, request.user)
    context: dict[str, object] = {"vat_rate": current_vat_rate()}
    if user.is_admin:
        context["team"] = _team_counts()
        context["recent_events"] = event_rows(AuditEvent.objects.all()[:RECENT_EVENTS])
    return render(request, "core/home.html", context)


def _team_counts() -> dict[str, int]:
    """Active users by role, those still without an authenticator, and deactivated accounts."""
    counts = CsrUser.objects.aggregate(
        active=Count("pk", filter=Q(is_active=True)),
        admins=Count("pk", filter=Q(is_active=True, role=Role.ADMIN)),
        csrs=Count("pk", filter=Q(is_active=True, role=Role.CSR)),
        without_mfa=Count("pk", filter=Q(is_active=True, totp_enrolled=False)),
        inactive=Count("pk", filter=Q(is_active=False)),
    )
    return {key: int(value or 0) for key, value in counts.items()}


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "400.html", status=400)


def permission_denied(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "403.html", status=403)


def page_not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    return render(request, "404.html", status=404)


def server_error(request: HttpRequest) -> HttpResponse:
    """The 500 page, rendered with the request if that still works, bare if not."""
    try:
        return render(request, "500.html", status=500)
    except Exception:
        log.exception("the 500 page itself failed to render")
        return HttpResponseServerError(
            loader.get_template("500_bare.html").render(), content_type="text/html"
        )


def csrf_failure(request: HttpRequest, reason: str = "") -> HttpResponse:
    log.warning("CSRF check failed for %s: %s", request.path, reason)
    return render(request, "403_csrf.html", status=403)
