"""Admin page of VAT rates: the rate in force, the history, and a form to add a new rate."""

from __future__ import annotations

from typing import cast

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.utils import timezone
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_POST

from microbss.crm.accounts.decorators import admin_required
from microbss.crm.accounts.models import CsrUser
from microbss.crm.vat.actions import add_vat_rate
from microbss.crm.vat.forms import VatRateForm
from microbss.crm.vat.models import VatConfig
from microbss.crm.vat.rates import current_vat_rate


def _render(request: HttpRequest, form: VatRateForm, status: int = 200) -> HttpResponse:
    history = VatConfig.objects.select_related("created_by")[:200]
    context = {"form": form, "history": history, "current_rate": current_vat_rate()}
    return render(request, "vat/vat.html", context, status=status)


@admin_required
@require_GET
def vat_page(request: HttpRequest) -> HttpResponse:
    form = VatRateForm(initial={"effective_from": timezone.localdate()})
    return _render(request, form)


@admin_required
@require_POST
def vat_add(request: HttpRequest) -> HttpResponse:
    form = VatRateForm(request.POST)
    if not form.is_valid():
        return _render(request, form, status=400)
    row = add_vat_rate(
        request,
        cast(CsrUser, request.user),
        form.cleaned_data["rate"],
        form.cleaned_data["effective_from"],
    )
    messages.success(
        request,
        _("VAT %(rate)s%% recorded, in force from %(day)s.")
        % {"rate": row.rate, "day": row.effective_from.isoformat()},
    )
    return redirect("vat:page")
