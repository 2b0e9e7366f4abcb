"""Names of price plans, services and bill cycles by id, from the engine's reference data.

The engine's records carry ids (``price_plan_id``, ``service`` "VOICE", ``bill_cycle_id``); every
CRM page shows names instead, through these lookups over the cached ``GetRefData`` reply.

Plan names are the operator's own and are shown as the engine has them. Services and bill cycles
are named by the engine in one language only ("Mobile data", "1st of month"), so the CRM words the
well-known ones itself, in the page's language, from their structured fields: a service by its id
and the unit it is counted in, a bill cycle by its day. A service the CRM does not know keeps the
engine's name.
"""

from __future__ import annotations

from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from microbss.crm.engine_client import BillCycle, RefData, Service

# (id, unit) of the services every operator has, in the CRM's words.
_KNOWN_SERVICES: dict[tuple[str, str], Promise] = {
    ("VOICE", "SECOND"): gettext_lazy("Voice calls"),
    ("SMS", "MESSAGE"): gettext_lazy("Text messages"),
    ("DATA", "BYTE"): gettext_lazy("Mobile data"),
}


def plan_name(ref: RefData, plan_id: int) -> str:
    plan = ref.plan(plan_id)
    if plan is None:
        return _("Unknown plan #%(id)s") % {"id": plan_id}
    return plan.name


def service_label(service: Service) -> str:
    """The service in the page's language when it is a well-known one, else the engine's name."""
    known = _KNOWN_SERVICES.get((service.id, service.unit))
    return str(known) if known is not None else service.name


def service_name(ref: RefData, service_id: str) -> str:
    service = ref.service(service_id)
    return service_label(service) if service is not None else service_id


def cycle_label(cycle: BillCycle) -> str:
    """A bill cycle by its day: "15th of the month" ("Día 15 de cada mes")."""
    day = cycle.cycle_day
    if day % 10 == 1 and day % 100 != 11:
        return _("%(day)sst of the month") % {"day": day}
    if day % 10 == 2 and day % 100 != 12:
        return _("%(day)snd of the month") % {"day": day}
    if day % 10 == 3 and day % 100 != 13:
        return _("%(day)srd of the month") % {"day": day}
    return _("%(day)sth of the month") % {"day": day}


def bill_cycle_name(ref: RefData, cycle_id: int) -> str:
    if not cycle_id:
        return ""
    cycle = ref.bill_cycle(cycle_id)
    if cycle is None:
        return _("Unknown bill cycle #%(id)s") % {"id": cycle_id}
    return cycle_label(cycle)


def plan_choices(ref: RefData) -> list[tuple[str, str, str]]:
    """(id, name, payment type) of every plan, for the new-subscriber form's plan dropdown."""
    return [(str(p.id), p.name, p.payment_type) for p in ref.price_plans]
