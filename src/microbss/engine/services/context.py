"""Per-call context (request id, acting user) set by the API's interceptor, read by services.

Each call runs in its own asyncio task on the server's event loop, and its handler there or in a
worker thread inside a copy of that task's context (api/interceptors.py): every call sees its own
values, wherever its code runs.
"""

from __future__ import annotations

import contextvars
import uuid

request_id_var: contextvars.ContextVar[str] = contextvars.ContextVar("request_id", default="")
actor_var: contextvars.ContextVar[str] = contextvars.ContextVar("actor", default="")


def new_request_id() -> str:
    return uuid.uuid4().hex[:16]


def current_request_id() -> str:
    return request_id_var.get()


def current_actor(default: str = "api") -> str:
    """The acting user named by the caller (x-actor), else ``default``."""
    return actor_var.get() or default
