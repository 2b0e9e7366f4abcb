"""Names of price plans, services and bill cycles by id, from the engine's reference data.

The engine's records carry ids (``price_plan_id``, ``service`` "VOICE", ``bill_cycle_id``); every
CRM page shows names instead, through these lookups over the cached ``GetRefData`` reply.
"""

from __future__ import annotations

from django.utils.translation import gettext as _

from microbss.crm.engine_client import RefData


def plan_name(ref: RefData, plan_id: int) -> str:
    plan = ref.plan(plan_id)
    if plan is None:
        return _("Unknown plan #%(id)s") % {"id": plan_id}
    return plan.name


def service_name(ref: RefData, service_id: str) -> str:
    service = ref.service(service_id)
    return service.name if service is not None else service_id


def bill_cycle_name(ref: RefData, cycle_id: int) -> str:
    if not cycle_id:
        return ""
    cycle = ref.bill_cycle(cycle_id)
    if cycle is None:
        return _("Unknown bill cycle #%(id)s") % {"id": cycle_id}
    return _("%(name)s (day %(day)s)") % {"name": cycle.name, "day": cycle.cycle_day}


def plan_choices(ref: RefData) -> list[tuple[str, str, str]]:
    """(id, name, payment type) of every plan, for the new-subscriber form's plan dropdown."""
    return [(str(p.id), p.name, p.payment_type) for p in ref.price_plans]
