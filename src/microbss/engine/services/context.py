"""Per-call context (request id, acting user) set by the API's interceptor, read by services.

Context variables are per thread (and per task), which is what gRPC's thread pool gives each call.
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
