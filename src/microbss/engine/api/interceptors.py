"""The API's server interceptor: per-call context, bearer token, error mapping, access log,
and where each handler runs.

For every call it:
- sets the request id and the acting user (``x-actor``) in the context variables services read
  (services/context.py), and returns the request id to the caller in the ``x-request-id``
  trailing metadata;
- when a token is configured, requires ``authorization: Bearer <token>`` (constant-time compare)
  on every Engine method; health and reflection stay open so probes and generic clients work;
- turns a DomainError into its declared status with its readable message, and any other
  exception into INTERNAL "internal error (request id X)" after logging it with the request id,
  so callers never see UNKNOWN or a Python traceback;
- logs one line: method, status, duration in ms, request id, actor.

Health checks pass through untouched: load balancers poll them constantly, they need no token,
and a request id and a log line per probe would only cost CPU and bury the access log.

The server is grpc.aio (server.py). The Engine's handlers are plain functions over blocking
database code; the interceptor decides where each one runs:
- on the event loop itself, for the methods in ``inline`` (GetSubscriber on SQLite: a
  primary-key read that takes ~0.15 ms of CPU and never waits on a lock in WAL mode). Handing
  such a call to a worker thread costs more than the call: every sqlite3 step releases the
  GIL, and each hand-back between threads is slower than the statement (bench/rpc.py);
- in the worker pool, for everything else: writes (they queue for the writer lock), searches,
  streams. A streaming handler's generator is advanced one message at a time in the pool, so
  a slow client holds back the database reads (no unbounded buffer between them).
Health and reflection are grpc's own asyncio servicers and run on the loop.
"""

from __future__ import annotations

import asyncio
import contextvars
import hmac
import inspect
import logging
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from concurrent.futures import Executor
from contextvars import Token
from typing import Any

import grpc
from grpc import aio

from microbss.engine.domain.errors import DomainError
from microbss.engine.services.context import actor_var, new_request_id, request_id_var
from microbss.engine.storage.uow import WriterBusy, no_waiting

log = logging.getLogger("microbss.engine.api")

# Services a caller may use without the bearer token.
OPEN_SERVICE_PREFIXES = (
    "/grpc.health.v1.Health/",
    "/grpc.reflection.v1alpha.ServerReflection/",
    "/grpc.reflection.v1.ServerReflection/",
)
_UNTOUCHED_PREFIXES = ("/grpc.health.v1.Health/",)
MAX_ACTOR_LENGTH = 150
_DONE = object()  # what next() returns at the end of a streaming handler's generator


class _CallFailed(Exception):
    """Carries the status chosen for a failed call out of the wrapped behaviour."""

    def __init__(self, code: grpc.StatusCode, details: str) -> None:
        super().__init__(details)
        self.code = code
        self.details = details


class EngineInterceptor(aio.ServerInterceptor):
    """Wraps every method's handler once, on its first call; see the module docstring.

    ``inline`` names the methods (full names, "/microbss.v1.Engine/GetSubscriber") whose plain
    function handlers run on the event loop; the others run in ``pool``.
    """

    def __init__(self, pool: Executor, token: str = "", inline: frozenset[str] = frozenset()):
        self._pool = pool
        self._inline = inline
        self._expected = f"Bearer {token}".encode() if token else b""
        # grpc awaits intercept_service for every call on the event loop: a dictionary lookup.
        self._wrapped: dict[str, grpc.RpcMethodHandler] = {}

    async def intercept_service(
        self,
        continuation: Callable[[grpc.HandlerCallDetails], Awaitable[grpc.RpcMethodHandler]],
        handler_call_details: grpc.HandlerCallDetails,
    ) -> grpc.RpcMethodHandler:
        method: str = handler_call_details.method
        wrapped = self._wrapped.get(method)
        if wrapped is None:
            handler = await continuation(handler_call_details)
            if handler is None:  # unknown method: grpc answers UNIMPLEMENTED; nothing to cache
                return handler
            untouched = method.startswith(_UNTOUCHED_PREFIXES)
            wrapped = self._wrapped[method] = handler if untouched else self._wrap(method, handler)
        return wrapped

    def _wrap(self, method: str, handler: grpc.RpcMethodHandler) -> grpc.RpcMethodHandler:
        call = _Call(
            method,
            self._expected if not method.startswith(OPEN_SERVICE_PREFIXES) else b"",
            self._pool,
            inline=method in self._inline,
        )
        serializers = {
            "request_deserializer": handler.request_deserializer,
            "response_serializer": handler.response_serializer,
        }
        if handler.unary_unary:
            return grpc.unary_unary_rpc_method_handler(
                call.wrap_unary(handler.unary_unary), **serializers
            )
        if handler.unary_stream:
            return grpc.unary_stream_rpc_method_handler(
                call.wrap_stream(handler.unary_stream), **serializers
            )
        if handler.stream_unary:
            return grpc.stream_unary_rpc_method_handler(
                call.wrap_unary(handler.stream_unary), **serializers
            )
        assert handler.stream_stream is not None  # grpc sets exactly one of the four
        return grpc.stream_stream_rpc_method_handler(
            call.wrap_stream(handler.stream_stream), **serializers
        )


def _code_set_by_handler(context: aio.ServicerContext[Any, Any]) -> grpc.StatusCode | None:
    """The status a handler set with set_code/abort, if any (None when it set none)."""
    code = context.code()
    return code if isinstance(code, grpc.StatusCode) and code != grpc.StatusCode.OK else None


class _Call:
    """The wrapping for one method: the same code for every call of it."""

    def __init__(self, method: str, expected_auth: bytes, pool: Executor, inline: bool) -> None:
        self.method = method
        self.expected_auth = expected_auth
        self.pool = pool
        self.inline = inline  # a plain function handler runs on the event loop

    def wrap_unary(self, behaviour: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        run = self._runner(behaviour)

        async def unary(request: Any, context: aio.ServicerContext[Any, Any]) -> Any:
            started, tokens = self._begin(context)
            code, failure = grpc.StatusCode.OK, None
            try:
                self._authenticate(context)
                response = await run(request, context)
                code = _code_set_by_handler(context) or code
                return response
            except asyncio.CancelledError:  # the client went away or its deadline passed
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:  # every failure gets a status, never UNKNOWN
                failure = self._failure(exc, context)
                if failure is None:  # the handler aborted itself: keep its status and message
                    code = _code_set_by_handler(context) or grpc.StatusCode.UNKNOWN
                    raise
                code = failure.code
            finally:
                self._end(started, code, tokens)  # logged before the caller hears of it
            await _abort(context, failure)  # only reached when the call failed

        return unary

    def wrap_stream(self, behaviour: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
        messages = self._messages(behaviour)

        async def stream(
            request: Any, context: aio.ServicerContext[Any, Any]
        ) -> AsyncIterator[Any]:
            started, tokens = self._begin(context)
            code, failure = grpc.StatusCode.OK, None
            try:
                self._authenticate(context)
                async for message in messages(request, context):
                    yield message
                code = _code_set_by_handler(context) or code
            except asyncio.CancelledError:
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:  # also what the generator raises mid-stream
                failure = self._failure(exc, context)
                if failure is None:  # the handler aborted itself: keep its status and message
                    code = _code_set_by_handler(context) or grpc.StatusCode.UNKNOWN
                    raise
                code = failure.code
            finally:
                self._end(started, code, tokens)  # logged before the caller hears of it
            await _abort(context, failure)  # only reached when the call failed

        return stream

    def _runner(self, behaviour: Callable[..., Any]) -> Callable[..., Awaitable[Any]]:
        """An awaitable call of a unary behaviour, on the loop or in the pool."""
        if inspect.iscoroutinefunction(behaviour):
            return behaviour  # an asyncio handler: it never blocks the loop
        pool = self.pool

        async def in_pool(request: Any, context: Any) -> Any:
            # The worker sees this call's context variables (request id, actor).
            run = contextvars.copy_context().run
            return await asyncio.get_running_loop().run_in_executor(
                pool, run, behaviour, request, context
            )

        if self.inline:

            async def inline(request: Any, context: Any) -> Any:
                try:
                    with no_waiting():
                        return behaviour(request, context)
                except WriterBusy:  # wait for the other writer in a worker, not on the loop
                    return await in_pool(request, context)

            return inline

        return in_pool

    def _messages(self, behaviour: Callable[..., Any]) -> Callable[..., AsyncIterator[Any]]:
        """A streaming behaviour as an async iterator; a plain generator advances in the pool,
        one message per step, every step in the same copied context."""
        if inspect.isasyncgenfunction(behaviour):
            return behaviour  # grpc's own asyncio servicers (reflection)
        pool = None if self.inline else self.pool

        async def stepped(request: Any, context: Any) -> AsyncIterator[Any]:
            run = contextvars.copy_context().run
            generator = await _step(pool, run, _start, behaviour, request, context)
            try:
                while (message := await _step(pool, run, next, generator, _DONE)) is not _DONE:
                    yield message
            finally:  # the client went away or the call failed: release its cursor now
                await _step(pool, run, _close, generator)

        return stepped

    def _begin(self, context: aio.ServicerContext[Any, Any]) -> tuple[float, list[Token[str]]]:
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

    def _authenticate(self, context: aio.ServicerContext[Any, Any]) -> None:
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

    def _failure(
        self, exc: Exception, context: aio.ServicerContext[Any, Any]
    ) -> _CallFailed | None:
        """The status and message ``exc`` stands for (None: the handler aborted the call)."""
        if _code_set_by_handler(context) is not None:
            return None
        if isinstance(exc, _CallFailed):
            return exc
        if isinstance(exc, DomainError):
            return _CallFailed(grpc.StatusCode[exc.status], str(exc))
        request_id = request_id_var.get()
        log.error("unexpected error in %s (request id %s)", self.method, request_id, exc_info=exc)
        return _CallFailed(grpc.StatusCode.INTERNAL, f"internal error (request id {request_id})")

    def _end(self, started: float, code: grpc.StatusCode, tokens: list[Token[str]]) -> None:
        elapsed_ms = (time.perf_counter() - started) * 1000
        if log.isEnabledFor(logging.INFO):
            log.info(
                "%s %s %.1fms request_id=%s actor=%s",
                self.method,
                code.name,
                elapsed_ms,
                request_id_var.get(),
                actor_var.get() or "-",
            )
        request_id_var.reset(tokens[0])
        actor_var.reset(tokens[1])


async def _abort(context: aio.ServicerContext[Any, Any], failure: _CallFailed | None) -> None:
    if failure is not None:
        await context.abort(failure.code, failure.details)


async def _step(pool: Executor | None, run: Callable[..., Any], *call: Any) -> Any:
    """``run(*call)``: on the event loop when ``pool`` is None, else in the pool."""
    if pool is None:
        return run(*call)
    return await asyncio.get_running_loop().run_in_executor(pool, run, *call)


def _start(behaviour: Callable[..., Any], request: Any, context: Any) -> Iterator[Any]:
    return iter(behaviour(request, context))


def _close(generator: Iterator[Any]) -> None:
    close = getattr(generator, "close", None)
    if close is not None:
        close()
