"""Read-only price plan pages (admins): plans with tariffs and allowances, services, bill cycles.

Everything comes from the engine's ``GetRefData``; the CRM defines no plan of its own.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from microbss.crm import engine_client
from microbss.crm.accounts.decorators import admin_required
from microbss.crm.catalog.names import cycle_label, service_label, service_name
from microbss.crm.catalog.wording import increment_wording, price_unit_wording, quantity_wording
from microbss.crm.engine_client import PricePlan, RefData, Tariff
from microbss.crm.engine_pages import engine_view
from microbss.crm.subscribers.actions import actor_of


@dataclass(frozen=True)
class TariffRow:
    tariff: Tariff
    service: str
    per: str
    increment: str
    minimum: str


@dataclass(frozen=True)
class AllowanceRow:
    service: str
    quantity: str
    zones: tuple[str, ...]  # codes; the page words them (core/_zone.html)


def _unit_of(ref: RefData, service_id: str) -> str:
    service = ref.service(service_id)
    return service.unit if service is not None else ""


def _tariff_rows(ref: RefData, plan: PricePlan) -> list[TariffRow]:
    rows = []
    for t in plan.tariffs:
        unit = _unit_of(ref, t.service)
        rows.append(
            TariffRow(
                t,
                service_name(ref, t.service),
                price_unit_wording(t.strategy, t.price_unit, unit),
                increment_wording(t.increment, unit) if t.strategy == "PER_UNIT" else "",
                quantity_wording(t.minimum_quantity, unit) if t.minimum_quantity else "",
            )
        )
    return rows


def _allowance_rows(ref: RefData, plan: PricePlan) -> list[AllowanceRow]:
    return [
        AllowanceRow(
            service_name(ref, a.service),
            quantity_wording(a.quantity, _unit_of(ref, a.service)),
            tuple(a.zones),
        )
        for a in plan.allowances
    ]


@require_GET
@admin_required
@engine_view
def price_plans(request: HttpRequest) -> HttpResponse:
    ref = engine_client.get_ref_data(actor_of(request))
    return render(request, "catalog/price_plans.html", {"ref": ref, "section": "plans"})


@require_GET
@admin_required
@engine_view
def price_plan(request: HttpRequest, plan_id: int) -> HttpResponse:
    ref = engine_client.get_ref_data(actor_of(request))
    plan = ref.plan(plan_id)
    if plan is None:
        raise Http404("no such price plan")
    context = {
        "ref": ref,
        "plan": plan,
        "tariffs": _tariff_rows(ref, plan),
        "allowances": _allowance_rows(ref, plan),
        "section": "plans",
    }
    return render(request, "catalog/price_plan.html", context)


@require_GET
@admin_required
@engine_view
def services(request: HttpRequest) -> HttpResponse:
    ref = engine_client.get_ref_data(actor_of(request))
    rows = [(s, service_label(s)) for s in ref.services]
    return render(request, "catalog/services.html", {"services": rows, "section": "services"})


@require_GET
@admin_required
@engine_view
def bill_cycles(request: HttpRequest) -> HttpResponse:
    ref = engine_client.get_ref_data(actor_of(request))
    rows = [(c, cycle_label(c)) for c in sorted(ref.bill_cycles, key=lambda c: c.cycle_day)]
    return render(request, "catalog/bill_cycles.html", {"cycles": rows, "section": "cycles"})
