"""Every write a CSR makes on a subscriber: call the engine, then record the outcome in the audit.

Each function takes the request (its user is the acting CSR, sent to the engine as ``x-actor``;
its address goes into the audit row), calls the engine, and writes one audit row with OK (done),
DENIED (the engine refused: bad input or a state that forbids it) or FAILED (the engine was
unreachable or broke) before returning or re-raising. A voucher PIN is never recorded: only the
serial of the voucher it turned out to be, once redeemed.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any, TypeVar

from django.http import HttpRequest

from microbss.crm import engine_client
from microbss.crm.audit.actions import record
from microbss.crm.audit.models import Result
from microbss.crm.engine_client import EngineError, EngineRejected

T = TypeVar("T")


def actor_of(request: HttpRequest) -> str:
    return str(getattr(request.user, "username", ""))


def audited(
    request: HttpRequest,
    action: str,
    target: str,
    call: Callable[[], T],
    details: Callable[[T], Mapping[str, Any]] | None = None,
) -> T:
    """Run ``call`` against the engine and record the outcome as one audit row."""
    try:
        outcome = call()
    except EngineRejected as error:
        record(
            request.user, action, target, str(Result.DENIED),
            {"code": error.code, "message": error.message[:300]}, request,
        )  # fmt: skip
        raise
    except EngineError as error:
        record(
            request.user, action, target, str(Result.FAILED),
            {"error": type(error).__name__}, request,
        )  # fmt: skip
        raise
    record(
        request.user, action, target, str(Result.OK), details(outcome) if details else {}, request
    )
    return outcome


def create_subscriber(
    request: HttpRequest, new: engine_client.NewSubscriber
) -> engine_client.Subscriber:
    return audited(
        request,
        "subscriber.create",
        f"msisdn:{new.msisdn}",
        lambda: engine_client.create_subscriber(actor_of(request), new),
        lambda created: {
            "subscriber_id": created.id,
            "payment_type": created.payment_type,
            "price_plan_id": created.price_plan_id,
        },
    )


def redeem_voucher(request: HttpRequest, subscriber_id: int, pin: str) -> engine_client.Redemption:
    return audited(
        request,
        "voucher.redeem",
        f"subscriber:{subscriber_id}",
        lambda: engine_client.redeem_voucher(actor_of(request), subscriber_id, pin),
        lambda done: {
            "serial": done.voucher_serial,
            "credited_minor": done.credited.amount_minor,
            "currency": done.credited.currency,
        },
    )


def execute_billing(request: HttpRequest, subscriber_id: int) -> engine_client.BillingResult:
    return audited(
        request,
        "billing.execute",
        f"subscriber:{subscriber_id}",
        lambda: engine_client.execute_billing(actor_of(request), subscriber_id),
        lambda bill: {
            "bill_id": bill.bill_id,
            "invoice_number": bill.invoice_number,
            "net_minor": bill.net_total.amount_minor,
            "currency": bill.net_total.currency,
        },
    )


def terminate_subscriber(
    request: HttpRequest, subscriber_id: int, reason: str
) -> engine_client.Termination:
    return audited(
        request,
        "subscriber.terminate",
        f"subscriber:{subscriber_id}",
        lambda: engine_client.terminate_subscriber(actor_of(request), subscriber_id, reason),
        lambda done: {
            "reason": reason[:300],
            "final_bill_id": done.final_bill.id if done.final_bill else None,
        },
    )
