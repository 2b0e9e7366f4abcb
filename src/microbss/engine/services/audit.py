"""The engine's audit trail: one row per write, inside the write's own transaction.

Details are JSON. Callers must never put a PIN, a secret or a full identity number in them.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, bindparam, insert

from microbss.engine.domain.periods import utcnow
from microbss.engine.services.context import current_request_id
from microbss.engine.storage.prepared import Prepared
from microbss.engine.storage.tables import audit_events

_EVENT_COLUMNS = ("at", "actor", "action", "target", "result", "details", "request_id")
# Prepared once: every write runs it (storage/prepared.py).
_INSERT_EVENT = Prepared(
    insert(audit_events).values({name: bindparam(name) for name in _EVENT_COLUMNS})
)


def record_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    result: str = "OK",
    details: dict[str, Any] | None = None,
) -> None:
    _INSERT_EVENT.rowcount(
        conn,
        {
            "at": utcnow(),
            "actor": actor[:150],
            "action": action,
            "target": target[:200],
            "result": result,
            "details": json.dumps(details or {}, sort_keys=True, default=str),
            "request_id": current_request_id(),
        },
    )
