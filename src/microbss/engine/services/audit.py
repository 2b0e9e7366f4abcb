"""The engine's audit trail: one row per write, inside the write's own transaction.

Details are JSON. Callers must never put a PIN, a secret or a full identity number in them.
"""

from __future__ import annotations

import json
from typing import Any

from sqlalchemy import Connection, insert

from microbss.engine.domain.periods import utcnow
from microbss.engine.services.context import current_request_id
from microbss.engine.storage.tables import audit_events

# Built once: every write calls this; building it per call cost more than running it.
_INSERT_EVENT = insert(audit_events)


def record_audit(
    conn: Connection,
    *,
    actor: str,
    action: str,
    target: str,
    result: str = "OK",
    details: dict[str, Any] | None = None,
) -> None:
    conn.execute(
        _INSERT_EVENT,
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
