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
- on the event loop itself, for the unary methods in ``inline`` (on SQLite GetSubscriber and
  RedeemVoucher, server.py). GetSubscriber is a primary-key read that takes ~0.15 ms of CPU
  and never waits on a lock in WAL mode: handing it to a worker thread costs more than the
  call, since every sqlite3 step releases the GIL and each hand-back between threads is
  slower than the statement (bench/rpc.py). RedeemVoucher reads, then writes in one
  transaction; run inside ``no_waiting()`` (storage/uow.py), that write raises WriterBusy,
  having written nothing, instead of waiting for another writer, and the whole call runs
  again in the pool, where it may wait;
- in the worker pool, for everything else: writes (they queue for the writer lock), searches,
  streams. A streaming handler's generator is advanced one message at a time in the pool, so
  a slow client holds back the database reads (no unbounded buffer between them).
A streaming call is a coroutine that writes each message itself, so that when the call is cut
off (the client cancels or hangs up, its deadline passes, the server stops) its clean-up runs
in its own task: the access line says CANCELLED, and the generator is closed in a worker as
soon as no step of it is running.
Plain-function handlers get grpc.aio's context with an ``abort`` that raises, as on grpc's
thread-pool server (``_HandlerContext``). Health and reflection are grpc's own asyncio
servicers and run on the loop.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import hmac
import inspect
import logging
import time
from collections.abc import AsyncGenerator, Awaitable, Callable, Iterator
from concurrent.futures import Executor, Future
from contextvars import Token
from typing import Any, NoReturn

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


class _HandlerContext:
    """The context a plain-function handler gets: grpc.aio's, except ``abort``.

    grpc.aio's ``abort`` is a coroutine: called from a plain function it would do nothing, and
    the handler would run on. Here it raises at once, as on grpc's thread-pool server, and the
    interceptor ends the call with that status and message (and the request id). What exists
    only as a coroutine on grpc.aio's context is not offered: better an AttributeError
    (INTERNAL, logged) than a call that silently does nothing.
    """

    __slots__ = ("_context",)

    def __init__(self, context: aio.ServicerContext[Any, Any]) -> None:
        self._context = context

    def abort(self, code: grpc.StatusCode, details: str = "") -> NoReturn:
        raise _CallFailed(code, details)

    def abort_with_status(self, status: grpc.Status) -> NoReturn:
        if status.trailing_metadata:
            self._context.set_trailing_metadata(
                tuple(self._context.trailing_metadata()) + tuple(status.trailing_metadata)
            )
        raise _CallFailed(status.code, status.details)

    def __getattr__(self, name: str) -> Any:
        if name in _HANDLER_CONTEXT_METHODS:
            return getattr(self._context, name)
        raise AttributeError(f"{name!r} is not available to a plain-function handler")


# What grpc.aio's context offers a plain function as it is (none of them is a coroutine).
_HANDLER_CONTEXT_METHODS = frozenset(
    {
        "auth_context",
        "code",
        "details",
        "disable_next_message_compression",
        "invocation_metadata",
        "peer",
        "peer_identities",
        "peer_identity_key",
        "set_code",
        "set_compression",
        "set_details",
        "set_trailing_metadata",
        "time_remaining",
        "trailing_metadata",
    }
)


class EngineInterceptor(aio.ServerInterceptor):
    """Wraps every method's handler once, on its first call; see the module docstring.

    ``inline`` names the unary methods (full names, "/microbss.v1.Engine/GetSubscriber") whose
    plain-function handlers run on the event loop; the others run in ``pool``.
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
        self.inline = inline  # a plain-function unary handler runs on the event loop

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
                failure = self._failure(exc)
                if failure is None:  # the handler aborted itself: keep its status and message
                    code = _code_set_by_handler(context) or grpc.StatusCode.UNKNOWN
                    raise
                code = failure.code
            finally:
                self._end(started, code, tokens)  # logged before the caller hears of it
            await _abort(context, failure)  # only reached when the call failed

        return unary

    def wrap_stream(self, behaviour: Callable[..., Any]) -> Callable[..., Awaitable[None]]:
        """A streaming handler as a coroutine that writes each reply itself: its clean-up (the
        access line, the context variables, closing the generator) then runs in the call's own
        task when the call is cut off. As an async generator, it would be left suspended when
        the client hangs up during a write, and finalized later in another task and context."""
        replies_of = self._replies(behaviour)

        async def stream(request: Any, context: aio.ServicerContext[Any, Any]) -> None:
            started, tokens = self._begin(context)
            code, failure = grpc.StatusCode.OK, None
            try:
                self._authenticate(context)
                async with contextlib.aclosing(replies_of(request, context)) as replies:
                    async for reply in replies:
                        await _write(context, reply)
                code = _code_set_by_handler(context) or code
            except asyncio.CancelledError:  # the client went away, or the server is stopping
                code = grpc.StatusCode.CANCELLED
                raise
            except Exception as exc:  # also what the generator raises mid-stream
                failure = self._failure(exc)
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
            return await asyncio.wrap_future(
                pool.submit(run, behaviour, request, _HandlerContext(context))
            )

        if self.inline:

            async def inline(request: Any, context: Any) -> Any:
                try:
                    with no_waiting():
                        return behaviour(request, _HandlerContext(context))
                except WriterBusy:  # wait for the other writer in a worker, not on the loop
                    return await in_pool(request, context)

            return inline

        return in_pool

    def _replies(self, behaviour: Callable[..., Any]) -> Callable[..., AsyncGenerator[Any, None]]:
        """A streaming behaviour as an async iterator. A plain generator advances in the pool,
        one message per step, every step in the same copied context; if the call ends before
        the generator does, it is closed in a worker once no step of it is running."""
        if inspect.isasyncgenfunction(behaviour):
            return behaviour  # grpc's own asyncio servicers (reflection)
        pool, method = self.pool, self.method

        async def stepped(request: Any, context: Any) -> AsyncGenerator[Any, None]:
            run = contextvars.copy_context().run
            handler_context = _HandlerContext(context)
            if inspect.isgeneratorfunction(behaviour):  # calling it runs none of its code yet
                generator = behaviour(request, handler_context)
            else:
                generator = await asyncio.wrap_future(
                    pool.submit(run, _start, behaviour, request, handler_context)
                )
            step: Future[Any] | None = None
            try:
                while True:
                    step = pool.submit(run, _advance, generator)
                    reply = await asyncio.wrap_future(step)
                    if reply is _DONE:
                        return
                    yield reply
            finally:
                if not _finished(step):  # cut off: by the client, an abort or a stop
                    _close_when_idle(generator, step, pool, run, method)

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

    def _failure(self, exc: Exception) -> _CallFailed | None:
        """The status and message ``exc`` stands for (None: an asyncio handler aborted the
        call itself, and grpc has sent its status)."""
        if isinstance(exc, aio.AbortError):
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


async def _write(context: aio.ServicerContext[Any, Any], reply: Any) -> None:
    """Send one message; a write that fails means the call is over (the client cancelled or
    lost its connection, its deadline passed, or the server is stopping).

    It is reported as the cancellation it is: re-raised as it is, grpc would log a failed
    write as an error with a traceback whenever it has not yet seen the client's close.
    """
    try:
        await context.write(reply)
    except Exception as exc:
        raise asyncio.CancelledError(f"the call ended during a write: {exc!r}") from exc


def _advance(generator: Iterator[Any]) -> Any:
    return next(generator, _DONE)


def _start(behaviour: Callable[..., Any], request: Any, context: Any) -> Iterator[Any]:
    return iter(behaviour(request, context))


def _finished(step: Future[Any] | None) -> bool:
    """Whether the generator that ``step`` advanced has ended (returned or raised)."""
    if step is None or not step.done() or step.cancelled():
        return False
    return step.exception() is not None or step.result() is _DONE


def _close_when_idle(
    generator: Iterator[Any],
    step: Future[Any] | None,
    pool: Executor,
    run: Callable[..., Any],
    method: str,
) -> None:
    """Close a generator the call no longer reads, in a worker and never while a step of it
    runs: closing a running generator fails, and so does entering its context a second time.
    Nothing waits for it: the call has ended."""
    close = functools.partial(run, _close, generator, method)
    if step is not None and not step.cancel() and not step.done():
        # The step is running: close it in its worker as soon as it returns.
        step.add_done_callback(lambda _: close())
        return
    try:
        pool.submit(close)
    except RuntimeError:  # the server has stopped and its pool with it
        close()


def _close(generator: Iterator[Any], method: str) -> None:
    close = getattr(generator, "close", None)
    if close is None:
        return
    try:
        close()
    except Exception:  # the call is over; its generator's clean-up failing is still news
        log.warning("closing the stream of %s failed", method, exc_info=True)
