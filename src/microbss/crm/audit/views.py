"""Admin page to search the audit trail by user, action, target and date range (paged)."""

from __future__ import annotations

from datetime import date, datetime, time, timedelta

from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.utils import timezone
from django.views.decorators.http import require_GET

from microbss.crm.accounts.decorators import admin_required
from microbss.crm.audit.forms import AuditSearchForm
from microbss.crm.audit.models import AuditEvent
from microbss.crm.audit.wording import event_rows

PAGE_SIZE = 50


def _start_of(day: date) -> datetime:
    """Midnight of ``day`` in the operator's time zone, as an aware instant."""
    return timezone.make_aware(datetime.combine(day, time.min))


def _filtered_events(form: AuditSearchForm) -> QuerySet[AuditEvent]:
    events = AuditEvent.objects.all()
    if not form.is_valid():
        return events.none() if form.errors else events
    data = form.cleaned_data
    if data["actor"]:
        events = events.filter(actor__iexact=data["actor"].strip())
    if data["action"]:
        events = events.filter(action__istartswith=data["action"].strip())
    if data["target"]:
        events = events.filter(target__icontains=data["target"].strip())
    if data["date_from"]:
        events = events.filter(at__gte=_start_of(data["date_from"]))
    if data["date_to"]:
        events = events.filter(at__lt=_start_of(data["date_to"] + timedelta(days=1)))
    return events


@admin_required
@require_GET
def audit_log(request: HttpRequest) -> HttpResponse:
    form = AuditSearchForm(request.GET)
    page = Paginator(_filtered_events(form), PAGE_SIZE).get_page(request.GET.get("page"))
    query = request.GET.copy()
    query.pop("page", None)
    context = {
        "form": form,
        "page": page,
        "rows": event_rows(page.object_list),
        "query": query.urlencode(),
    }
    return render(request, "audit/log.html", context)
