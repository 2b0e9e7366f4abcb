"""Views of the subscriber workspace.

Search, the new-subscriber form (with type-ahead over free inventory), the subscriber page with
its tabs (profile, usage, bills), the invoice download, and the actions (redeem a voucher, bill
now, terminate). Reads call the engine client directly; writes go through ``actions`` so each is
audited. Engine failures become clear pages through ``engine_view``.
"""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.http import (
    Http404,
    HttpRequest,
    HttpResponse,
    HttpResponseRedirect,
    JsonResponse,
)
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from microbss.crm import engine_client
from microbss.crm.accounts.decorators import csr_required
from microbss.crm.catalog.names import bill_cycle_name, plan_name, service_name
from microbss.crm.catalog.wording import quantity_wording
from microbss.crm.engine_client import (
    EngineRejected,
    EngineUnavailable,
    RatedCdr,
    RefData,
    Subscriber,
)
from microbss.crm.engine_pages import engine_error_response, engine_view, is_htmx
from microbss.crm.refusals import refusal_summary
from microbss.crm.subscribers import actions
from microbss.crm.subscribers.forms import NewSubscriberForm, ReasonForm, RedeemForm, SearchForm
from microbss.crm.subscribers.invoices import invoice_response
from microbss.crm.subscribers.vat_columns import VatColumns, vat_columns, vat_rate_now

SEARCH_PAGE_SIZE = 25
USAGE_PAGE_SIZE = 50
RESOURCE_OPTIONS = 50
RESOURCE_KINDS = {"msisdn": "MSISDN", "imsi": "IMSI", "handset": "HANDSET"}


def _actor(request: HttpRequest) -> str:
    return actions.actor_of(request)


# ---- search ----------------------------------------------------------------------------------


@require_GET
@csr_required
@engine_view
def search(request: HttpRequest) -> HttpResponse:
    form = SearchForm(request.GET or None)
    page = None
    if form.is_bound and form.is_valid() and form.criteria():
        page = engine_client.search_subscribers(
            _actor(request),
            page_size=SEARCH_PAGE_SIZE,
            page_token=request.GET.get("page_token", ""),
            **form.criteria(),
        )
    ref = engine_client.get_ref_data(_actor(request)) if page and page.items else None
    rows = [(s, plan_name(ref, s.price_plan_id)) for s in page.items] if page and ref else []
    next_query = ""
    if page and page.next_page_token:
        query = request.GET.copy()
        query["page_token"] = page.next_page_token
        next_query = query.urlencode()
    context = {"form": form, "page": page, "rows": rows, "next_query": next_query}
    return render(request, "subscribers/search.html", context)


# ---- new subscriber --------------------------------------------------------------------------


def _first_free(actor: str, kind: str) -> list[engine_client.Resource]:
    return engine_client.get_available_resources(actor, kind, page_size=RESOURCE_OPTIONS).items


def _render_new(request: HttpRequest, form: NewSubscriberForm, status: int = 200) -> HttpResponse:
    actor = _actor(request)
    context: dict[str, Any] = {"form": form, "engine_down": status == 503}
    if status != 503:
        context["free"] = {kind: _first_free(actor, kind) for kind in RESOURCE_KINDS.values()}
    return render(request, "subscribers/new.html", context, status=status)


@require_http_methods(["GET", "POST"])
@csr_required
@engine_view
def new_subscriber(request: HttpRequest) -> HttpResponse:
    ref = engine_client.get_ref_data(_actor(request))
    form = NewSubscriberForm(request.POST or None, ref=ref)
    if request.method != "POST" or not form.is_valid():
        return _render_new(request, form, status=400 if form.is_bound else 200)
    try:
        created = actions.create_subscriber(request, form.new_subscriber())
    except EngineRejected as error:
        form.add_engine_errors(error)
        return _render_new(request, form, status=409 if error.code == "ALREADY_EXISTS" else 400)
    except EngineUnavailable:
        # Keep everything the CSR typed: the form comes back with the banner above it.
        return _render_new(request, form, status=503)
    messages.success(
        request,
        _("Subscriber %(name)s created with MSISDN %(msisdn)s.")
        % {"name": created.full_name, "msisdn": created.msisdn},
    )
    return redirect("subscribers:detail", subscriber_id=created.id)


@require_GET
@csr_required
@engine_view
def resource_options(request: HttpRequest, kind: str) -> HttpResponse:
    """Free MSISDNs, IMSIs or handsets starting with ``?prefix=``, for the form's type-ahead."""
    resource_type = RESOURCE_KINDS.get(kind)
    if resource_type is None:
        raise Http404(kind)
    prefix = "".join(ch for ch in request.GET.get("prefix", "") if ch.isascii() and ch.isdigit())
    page = engine_client.get_available_resources(
        _actor(request), resource_type, prefix=prefix[:15], page_size=RESOURCE_OPTIONS
    )
    options = [{"value": r.value, "label": f"{r.value} {r.model}".strip()} for r in page.items]
    return JsonResponse({"options": options, "total": page.total_count})


# ---- subscriber page and tabs -----------------------------------------------------------------


@dataclass(frozen=True)
class AllowanceRow:
    service: str
    granted: str
    used: str
    remaining: str
    percent_used: int  # for the bar: at least 1 once anything is used, so a sliver shows
    percent_text: str  # "<1" for a small but real use, never a misleading "0"


def _allowance_rows(subscriber: Subscriber, ref: RefData) -> list[AllowanceRow]:
    rows = []
    for a in subscriber.allowances:
        percent = min(100, a.used * 100 // a.granted) if a.granted else 100
        small_use = a.used > 0 and percent == 0
        rows.append(
            AllowanceRow(
                service_name(ref, a.service),
                quantity_wording(a.granted, a.unit),
                quantity_wording(a.used, a.unit),
                quantity_wording(a.remaining, a.unit),
                1 if small_use else percent,
                "<1" if small_use else str(percent),
            )
        )
    return rows


def _page_context(request: HttpRequest, subscriber_id: int, tab: str) -> dict[str, Any]:
    """What every tab shows in its header: the subscriber, plan and cycle names, the tab."""
    actor = _actor(request)
    subscriber = engine_client.get_subscriber(actor, subscriber_id)
    ref = engine_client.get_ref_data(actor)
    return {
        "subscriber": subscriber,
        "ref": ref,
        "plan_name": plan_name(ref, subscriber.price_plan_id),
        "bill_cycle_name": bill_cycle_name(ref, subscriber.bill_cycle_id),
        "tab": tab,
    }


@require_GET
@csr_required
@engine_view
def profile(request: HttpRequest, subscriber_id: int) -> HttpResponse:
    context = _page_context(request, subscriber_id, "profile")
    context["allowances"] = _allowance_rows(context["subscriber"], context["ref"])
    context["redeem_form"] = RedeemForm()
    return render(request, "subscribers/profile.html", context)


@require_GET
@csr_required
@engine_view
def balance_card(request: HttpRequest, subscriber_id: int) -> HttpResponse:
    """The balance card alone, for refreshing it in place."""
    subscriber = engine_client.get_subscriber(_actor(request), subscriber_id)
    return render(request, "subscribers/_balance.html", {"subscriber": subscriber})


@dataclass(frozen=True)
class UsageRow:
    cdr: RatedCdr
    service: str
    quantity: str
    billable: str
    allowance: str
    vat: VatColumns


def _usage_row(cdr: RatedCdr, ref: RefData, rate: Decimal) -> UsageRow:
    return UsageRow(
        cdr,
        service_name(ref, cdr.service),
        quantity_wording(cdr.quantity, cdr.unit),
        quantity_wording(cdr.billable_quantity, cdr.unit),
        quantity_wording(cdr.allowance_used, cdr.unit) if cdr.allowance_used else "",
        vat_columns(cdr.charge, rate),
    )


def _page_number(request: HttpRequest) -> int:
    try:
        return max(1, min(int(request.GET.get("page", "1")), 10_000))
    except ValueError:
        return 1


@require_GET
@csr_required
@engine_view
def usage(request: HttpRequest, subscriber_id: int) -> HttpResponse:
    context = _page_context(request, subscriber_id, "usage")
    number = _page_number(request)
    page = engine_client.get_subscriber_usage(
        _actor(request),
        subscriber_id,
        offset=(number - 1) * USAGE_PAGE_SIZE,
        limit=USAGE_PAGE_SIZE,
    )
    rate = vat_rate_now()
    context.update(
        vat_rate=rate,
        rows=[_usage_row(cdr, context["ref"], rate) for cdr in page.rows],
        page_number=number,
        has_previous=number > 1,
        has_next=page.has_more,
        first_row=page.offset + 1,
        last_row=page.offset + len(page.rows),
    )
    return render(request, "subscribers/usage.html", context)


@dataclass(frozen=True)
class BillRow:
    bill: engine_client.Bill
    vat: VatColumns


@require_GET
@csr_required
@engine_view
def bills(request: HttpRequest, subscriber_id: int) -> HttpResponse:
    context = _page_context(request, subscriber_id, "bills")
    found = engine_client.get_subscriber_bills(_actor(request), subscriber_id)
    rate = vat_rate_now()
    context["vat_rate"] = rate
    context["rows"] = [BillRow(bill, vat_columns(bill.net_total, rate)) for bill in found]
    context["new_bill"] = request.GET.get("new_bill", "")
    return render(request, "subscribers/bills.html", context)


@require_GET
@csr_required
@engine_view
def invoice_download(request: HttpRequest, subscriber_id: int, bill_id: int) -> HttpResponse:
    return invoice_response(_actor(request), subscriber_id, bill_id)


# ---- actions ----------------------------------------------------------------------------------


def _redeem_result(
    request: HttpRequest, subscriber_id: int, context: dict[str, Any], status: int = 200
) -> HttpResponse:
    context["subscriber_id"] = subscriber_id
    return render(request, "subscribers/_redeem_result.html", context, status=status)


@require_POST
@csr_required
@engine_view
def redeem(request: HttpRequest, subscriber_id: int) -> HttpResponse:
    """Redeem a voucher PIN; htmx gets the result in place plus the refreshed balance card."""
    form = RedeemForm(request.POST)
    if not form.is_valid():
        return _redeem_result(request, subscriber_id, {"form": form}, status=400)
    try:
        done = actions.redeem_voucher(request, subscriber_id, form.cleaned_data["pin"])
    except EngineRejected as error:
        if not is_htmx(request):
            messages.error(request, refusal_summary(error))
            return redirect("subscribers:detail", subscriber_id=subscriber_id)
        return _redeem_result(request, subscriber_id, {"error": refusal_summary(error)}, status=422)
    if not is_htmx(request):
        messages.success(
            request,
            _("Voucher %(serial)s redeemed.") % {"serial": done.voucher_serial},
        )
        return redirect("subscribers:detail", subscriber_id=subscriber_id)
    return _redeem_result(request, subscriber_id, {"done": done, "balance": done.balance})


def _bills_url(subscriber_id: int, bill_id: int | None = None) -> str:
    url = reverse("subscribers:bills", kwargs={"subscriber_id": subscriber_id})
    return f"{url}?new_bill={bill_id}" if bill_id else url


@require_POST
@csr_required
@engine_view
def execute_billing(request: HttpRequest, subscriber_id: int) -> HttpResponse:
    """Bill now (postpaid); htmx is sent to the bills tab, where the new bill row shows."""
    try:
        done = actions.execute_billing(request, subscriber_id)
    except EngineRejected as error:
        if is_htmx(request):
            return engine_error_response(request, error)
        messages.error(request, refusal_summary(error))
        return HttpResponseRedirect(_bills_url(subscriber_id))
    messages.success(
        request,
        _("Bill %(number)s created.") % {"number": done.invoice_number},
    )
    target = _bills_url(subscriber_id, done.bill_id)
    if is_htmx(request):
        response = HttpResponse(status=204)
        response["HX-Redirect"] = target
        return response
    return HttpResponseRedirect(target)


@require_http_methods(["GET", "POST"])
@csr_required
@engine_view
def terminate(request: HttpRequest, subscriber_id: int) -> HttpResponse:
    """Confirmation page with a required reason; then the final bill and the line terminated."""
    context = _page_context(request, subscriber_id, "terminate")
    subscriber: Subscriber = context["subscriber"]
    if not subscriber.is_active:
        messages.info(request, _("This line is already terminated."))
        return redirect("subscribers:detail", subscriber_id=subscriber_id)
    form = ReasonForm(request.POST or None)
    if request.method == "POST" and form.is_valid():
        try:
            done = actions.terminate_subscriber(request, subscriber_id, form.cleaned_data["reason"])
        except EngineRejected as error:
            form.add_error("reason" if error.field == "reason" else None, refusal_summary(error))
        else:
            _report_termination(request, done)
            return redirect("subscribers:detail", subscriber_id=subscriber_id)
    context["form"] = form
    status = 400 if form.is_bound else 200
    return render(request, "subscribers/terminate.html", context, status=status)


def _report_termination(request: HttpRequest, done: engine_client.Termination) -> None:
    if done.final_bill is not None:
        messages.success(
            request,
            _("Line terminated. Final bill %(number)s issued.")
            % {"number": done.final_bill.invoice_number},
        )
    else:
        messages.success(request, _("Line terminated. There was nothing left to bill."))
