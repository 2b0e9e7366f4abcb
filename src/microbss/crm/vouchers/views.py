"""Voucher administration (admins only): the filtered, paged list and withdraw/restore.

A state change is two steps: a confirmation page (GET, changes nothing) that asks for the reason,
then the POST that changes the state through ``actions.change_state`` (audited).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_GET, require_POST

from microbss.crm import engine_client
from microbss.crm.accounts.decorators import admin_required
from microbss.crm.engine_client import EngineError, EngineRejected
from microbss.crm.engine_pages import engine_view
from microbss.crm.refusals import refusal_summary
from microbss.crm.subscribers.actions import actor_of
from microbss.crm.vouchers import actions
from microbss.crm.vouchers.forms import StateChangeForm, VoucherFilterForm

PAGE_SIZE = 50


@require_GET
@admin_required
@engine_view
def voucher_list(request: HttpRequest) -> HttpResponse:
    form = VoucherFilterForm(request.GET)
    page = None
    next_query = ""
    if form.is_valid():
        page = engine_client.select_vouchers(
            actor_of(request),
            page_size=PAGE_SIZE,
            page_token=request.GET.get("page_token", ""),
            **form.criteria(),
        )
        if page.next_page_token:
            query = request.GET.copy()
            query["page_token"] = page.next_page_token
            next_query = query.urlencode()
    first_query = request.GET.copy()
    first_query.pop("page_token", None)
    context = {
        "form": form,
        "page": page,
        "next_query": next_query,
        "is_later_page": bool(request.GET.get("page_token")),
        "first_query": first_query.urlencode(),
        "batch": form.cleaned_data.get("batch", "") if form.is_valid() else "",
    }
    return render(request, "vouchers/list.html", context)


@require_GET
@admin_required
def confirm_state_change(request: HttpRequest) -> HttpResponse:
    """Ask for the reason before withdrawing or restoring; nothing changes on this page."""
    form = StateChangeForm(initial=request.GET.dict())
    probe = StateChangeForm({**request.GET.dict(), "reason": "-"})
    if not probe.is_valid():
        messages.error(request, _("Choose a voucher or a batch to withdraw or restore."))
        return redirect("vouchers:list")
    target = probe.cleaned_data
    context = {"form": form, "target": target, **_what_would_change(request, target)}
    return render(request, "vouchers/confirm.html", context)


def _what_would_change(request: HttpRequest, target: dict[str, str]) -> dict[str, object]:
    """The voucher (with its value and state) or the number of a batch's vouchers that would move.

    Only to show the admin what they are about to do: when the engine does not answer, the page
    still asks for the reason, and the change itself reports what it did.
    """
    from_state = actions.RESTORE if target["new_state"] == actions.WITHDRAW else actions.WITHDRAW
    try:
        if target["serial"]:
            found = engine_client.select_vouchers(
                actor_of(request), serial=target["serial"], page_size=1
            ).items
            voucher = next((v for v in found if v.serial == target["serial"]), None)
            return {"voucher": voucher, "voucher_movable": voucher and voucher.state == from_state}
        page = engine_client.select_vouchers(
            actor_of(request), state=from_state, batch=target["batch"], page_size=1
        )
        return {"batch_count": page.total_count}
    except EngineError:
        return {}


@require_POST
@admin_required
@engine_view
def update_state(request: HttpRequest) -> HttpResponse:
    form = StateChangeForm(request.POST)
    if not form.is_valid():
        target = {key: request.POST.get(key, "") for key in ("new_state", "serial", "batch")}
        return render(
            request, "vouchers/confirm.html", {"form": form, "target": target}, status=400
        )
    data = form.cleaned_data
    try:
        done = actions.change_state(
            request,
            new_state=data["new_state"],
            reason=data["reason"],
            serial=data["serial"],
            batch=data["batch"],
        )
    except EngineRejected as error:
        form.add_error("reason" if error.field == "reason" else None, refusal_summary(error))
        return render(request, "vouchers/confirm.html", {"form": form, "target": data}, status=409)
    messages.success(
        request,
        ngettext("%(count)d voucher updated.", "%(count)d vouchers updated.", done.updated_count)
        % {"count": done.updated_count},
    )
    if data["serial"]:
        return redirect(f"{_list_url()}?serial={data['serial']}")
    return redirect(f"{_list_url()}?batch={data['batch']}")


def _list_url() -> str:
    return reverse("vouchers:list")
