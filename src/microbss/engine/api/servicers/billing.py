"""Billing RPCs (GetSubscriberBills, ExecuteBilling, GetInvoice, TerminateSubscriber). Owned by
E4, who fills this mixin in."""

from __future__ import annotations


class BillingRpcs:
    """Placeholder mixin until the billing RPCs land; the generated base answers UNIMPLEMENTED."""
