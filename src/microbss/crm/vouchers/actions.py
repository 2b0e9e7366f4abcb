"""Voucher state changes (withdraw NEW->ERROR, restore ERROR->NEW), audited like every write."""

from __future__ import annotations

from django.http import HttpRequest

from microbss.crm import engine_client
from microbss.crm.subscribers.actions import actor_of, audited

WITHDRAW = "ERROR"
RESTORE = "NEW"


def change_state(
    request: HttpRequest, *, new_state: str, reason: str, serial: str = "", batch: str = ""
) -> engine_client.VoucherUpdate:
    """Move one voucher (``serial``) or a whole ``batch`` to ``new_state`` for ``reason``."""
    action = "voucher.withdraw" if new_state == WITHDRAW else "voucher.restore"
    target = f"serial:{serial}" if serial else f"batch:{batch}"
    return audited(
        request,
        action,
        target,
        lambda: engine_client.update_voucher_state(
            actor_of(request), new_state=new_state, reason=reason, serial=serial, batch=batch
        ),
        lambda done: {"reason": reason[:300], "updated_count": done.updated_count},
    )
