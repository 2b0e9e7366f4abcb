"""The API's server interceptor: per-call context, bearer token, error mapping, access log.

For every call it:
- sets the request id and the acting user (``x-actor``) in the context variables services read
  (services/context.py), and returns the request id to the caller in the ``x-request-id``
  trailing metadata;
- when a token is configured, requires ``authorization: Bearer <token>`` (constant-time compare)
  on every Engine method; health and reflection stay open so probes and generic clients work;
- turns a DomainError into its declared status with its readable message, and any other
  exception into INTERNAL "internal error (request id X)" after logging it with the request id,
  so callers never see UNKNOWN or a Python traceback;
- logs one line: method, status, duration in ms, request id, actor (health checks at DEBUG,
  since load balancers poll them constantly).

Unary and streaming handlers are both wrapped; for a server-streaming handler the errors raised
while its generator is iterated are mapped too.
"""

from __future__ import annotations

import hmac
import logging
import time
from collections.abc import Callable, Iterator
from contextvars import Token
from typing import Any

import grpc

from microbss.engine.domain.errors import DomainError
from microbss.engine.services.context import actor_var, new_request_id, request_id_var

log = logging.getLogger("microbss.engine.api")

# Services a caller may use without the bearer token.
OPEN_SERVICE_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
_QUIET_PREFIXES = ("/grpc.health.v1.Health/",)
MAX_ACTOR_LENGTH = 150


class _CallFailed(Exception):
    """Carries the status chosen for a failed call out of the wrapped behaviour."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class EngineInterceptor(grpc.ServerInterceptor):
    def __init__(self, token: str = "") -> None:
        self._expected = f"Bearer {token}".encode() if token else b""
        # One wrapped handler per method, made on its first call. grpc runs intercept_service on
        # its single event-loop thread for every call, so it must stay a dictionary lookup.
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], grpc.RpcMethodHandler | None],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler | None:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = continuation(handler_call_details)
            if handler is None:  # unknown method: grpc answers UNIMPLEMENTED; nothing to cache
                return None
            wrapped = self._wrapped[method] = self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        call = _Call(
            method, self._expected if not method.startswith(OPEN_SERVICE_PREFIXES) else b""
        )
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                call.wrap_unary(handler.unary_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                call.wrap_stream(handler.unary_stream),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                call.wrap_unary(handler.stream_unary),
                request_deserializer=handler.request_deserializer,
                response_serializer=handler.response_serializer,
            )
        return grpc.stream_stream_rpc_method_handler(
            call.wrap_stream(handler.stream_stream),  # type: ignore[arg-type]
            request_deserializer=handler.request_deserializer,
            response_serializer=handler.response_serializer,
        )


def _code_set_by_handler(context: grpc.ServicerContext) -> grpc.StatusCode | None:
    """The status a handler set with set_code/abort, if any (None when it set none)."""
    code = getattr(context, "code", lambda: None)()  # present on grpc's server context
    return code if isinstance(code, grpc.StatusCode) else None


class _Call:
    """The wrapping for one method: the same code for every call of it."""

    def __init__(self, method: str, expected_auth: bytes) -> None:
        self.method = method
        self.expected_auth = expected_auth
        self.log_level = logging.DEBUG if method.startswith(_QUIET_PREFIXES) else logging.INFO

    def wrap_unary(
        self, behaviour: Callable[[Any, grpc.ServicerContext], Any]
    ) -> Callable[..., Any]:
        def unary(request: Any, context: grpc.ServicerContext) -> Any:
            started, tokens = self._begin(context)
            code = grpc.StatusCode.OK
            try:
                self._authenticate(context)
                response = behaviour(request, context)
                code = _code_set_by_handler(context) or code
                return response
            except Exception as exc:  # every failure gets a status, never UNKNOWN
                aborted = _code_set_by_handler(context)
                if aborted is not None:  # the handler called context.abort itself: keep it
                    code = aborted
                    raise
                failure = self._failure(exc)
                code = failure.code
                context.abort(failure.code, failure.details)
            finally:
                self._end(started, code, tokens)

        return unary

    def wrap_stream(
        self, behaviour: Callable[[Any, grpc.ServicerContext], Iterator[Any]]
    ) -> Callable[..., Iterator[Any]]:
        def stream(request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
            started, tokens = self._begin(context)
            code = grpc.StatusCode.OK
            try:
                self._authenticate(context)
                yield from behaviour(request, context)
                code = _code_set_by_handler(context) or code
            except Exception as exc:  # also what the generator raises mid-stream
                aborted = _code_set_by_handler(context)
                if aborted is not None:
                    code = aborted
                    raise
                failure = self._failure(exc)
                code = failure.code
                context.abort(failure.code, failure.details)
            finally:
                self._end(started, code, tokens)

        return stream

    def _begin(self, context: grpc.ServicerContext) -> tuple[float, list[Token[str]]]:
        request_id = new_request_id()
        actor = ""
        for key, value in context.invocation_metadata() or ():
            if key == "x-actor" and isinstance(value, str):
                actor = value.strip()[:MAX_ACTOR_LENGTH]
        tokens = [
            request_id_var.set(request_id),
            actor_var.set(actor),
        ]
        context.set_trailing_metadata((("x-request-id", request_id),))
        return time.perf_counter(), tokens

    def _authenticate(self, context: grpc.ServicerContext) -> None:
        if not self.expected_auth:
            return
        presented = b""
        for key, value in context.invocation_metadata() or ():
            if key == "authorization":
                presented = value.encode() if isinstance(value, str) else bytes(value)
        if not hmac.compare_digest(presented, self.expected_auth):
            raise _CallFailed(
                grpc.StatusCode.UNAUTHENTICATED,
                "missing or wrong bearer token (authorization: Bearer <token>)",
            )

    def _failure(self, exc: Exception) -> _CallFailed:
        if isinstance(exc, _CallFailed):
            return exc
        if isinstance(exc, DomainError):
            return _CallFailed(grpc.StatusCode[exc.status], str(exc))
        request_id = request_id_var.get()
        log.exception("unexpected error in %s (request id %s)", self.method, request_id)
        return _CallFailed(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")

    def _end(self, started: float, code: grpc.StatusCode, tokens: list[Token[str]]) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        if log.isEnabledFor(self.log_level):
            log.log(
                self.log_level,
                "%s %s %.1fms request_id=%s actor=%s",
                self.method,
                code.name,
                elapsed_ms,
                request_id_var.get(),
                actor_var.get() or "-",
            )
        request_id_var.reset(tokens[0])
        actor_var.reset(tokens[1])
