"""The engine's gRPC server: Engine service, standard health and reflection, one interceptor,
on grpc.aio behind a blocking facade (``EngineServer``).

``create_server`` builds and binds a server without starting it (tests bind "127.0.0.1:0" and
get the real port back). ``serve`` runs one until SIGTERM or SIGINT, then reports NOT_SERVING
so load balancers stop sending work, lets in-flight calls finish for a grace period, and exits.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import signal
import threading
from collections.abc import Coroutine
from concurrent import futures
from pathlib import Path
from types import FrameType
from typing import Any, TypeVar

import grpc
from grpc import aio
from grpc_health.v1 import health, health_pb2, health_pb2_grpc
from grpc_health.v1.health import aio as health_aio  # type: ignore[attr-defined]  # public alias
from grpc_reflection.v1alpha import reflection

from microbss.engine.api.deferred_logging import deferred_log_writes
from microbss.engine.api.interceptors import EngineInterceptor
from microbss.engine.api.servicers import EngineServicer
from microbss.engine.config import ConfigError
from microbss.engine.deps import Deps
from microbss.v1 import engine_pb2, engine_pb2_grpc

log = logging.getLogger("microbss.engine.api")

ENGINE_SERVICE = engine_pb2.DESCRIPTOR.services_by_name["Engine"].full_name
SHUTDOWN_GRACE_S = 20.0
T = TypeVar("T")


# Engine methods that run on the event loop on SQLite (interceptors.py says why and how a
# write there never waits for a lock). Each is short reads plus at most one write transaction,
# and writes only through UnitOfWork: WriterBusy, which makes the interceptor run the call
# again in a worker, comes only before anything has been written (storage/uow.py). A method
# added here must not otherwise block (files, network) or act before its writes.
INLINE_ON_SQLITE = frozenset(
    f"/{ENGINE_SERVICE}/{name}" for name in ("GetSubscriber", "RedeemVoucher")
)


class EngineServer:
    """A grpc.aio server behind the blocking interface of ``grpc.Server`` that callers use
    (``start``, ``stop(grace).wait()``), running on this process's gRPC event loop thread.

    Why asyncio: the sync server hands every call from its polling thread to a worker thread;
    for a short database read those hand-offs cost more than the read (bench/rpc.py measured
    GetSubscriber at ~0.42 of a health check's rate that way, ~0.5 on the loop).
    """

    def __init__(self, addr: str, deps: Deps, max_workers: int | None = None) -> None:
        settings = deps.settings
        self._pool = futures.ThreadPoolExecutor(
            max_workers=max_workers or settings.workers, thread_name_prefix="rpc"
        )
        inline = INLINE_ON_SQLITE if deps.db.dialect.name == "sqlite" else frozenset()
        self._loop = event_loop()
        self._server: aio.Server
        self.health: health_aio.HealthServicer
        self.port = self._on_loop(self._build(addr, deps, inline))

    async def _build(self, addr: str, deps: Deps, inline: frozenset[str]) -> int:
        settings = deps.settings
        self._server = aio.server(
            migration_thread_pool=self._pool,
            interceptors=[EngineInterceptor(self._pool, settings.token, inline)],
            options=[
                ("grpc.max_receive_message_length", settings.max_message_bytes),
                ("grpc.max_send_message_length", settings.max_message_bytes),
            ],
        )
        engine_pb2_grpc.add_EngineServicer_to_server(EngineServicer(deps), self._server)
        self.health = health_aio.HealthServicer()
        health_pb2_grpc.add_HealthServicer_to_server(self.health, self._server)
        for service in ("", ENGINE_SERVICE):
            await self.health.set(service, health_pb2.HealthCheckResponse.SERVING)
        reflection.enable_server_reflection(
            (ENGINE_SERVICE, health.SERVICE_NAME, reflection.SERVICE_NAME), self._server
        )
        return _bind(self._server, addr, deps)

    def start(self) -> None:
        self._on_loop(self._server.start())

    def enter_graceful_shutdown(self) -> None:
        """Every service reports NOT_SERVING, so load balancers stop sending work."""
        self._on_loop(self.health.enter_graceful_shutdown())

    def stop(self, grace: float | None) -> threading.Event:
        """Stop taking calls; in-flight ones get ``grace`` seconds (None: cancelled now).

        The event is set once the server has stopped and every handler has returned, as
        ``grpc.Server.stop`` promises: a call cut off while a worker runs its handler ends
        for the client at once, but the worker runs on until the handler returns, and the
        caller may close the database once the event is set.
        """
        stopped = threading.Event()
        stopping = asyncio.run_coroutine_threadsafe(self._server.stop(grace), self._loop)

        def drain() -> None:  # waits, so not on the event loop
            try:
                stopping.result()
            except Exception:
                log.exception("stopping the gRPC server failed")
            finally:
                self._pool.shutdown(wait=True)
                stopped.set()

        threading.Thread(target=drain, name="rpc-stop", daemon=True).start()
        return stopped

    def _on_loop(self, work: Coroutine[Any, Any, T]) -> T:
        return asyncio.run_coroutine_threadsafe(work, self._loop).result()


def build_server(addr: str, deps: Deps, *, max_workers: int | None = None) -> EngineServer:
    """Create and bind the server (not started).

    Worker threads (for every Engine method not run on the loop) default to
    ``MICROBSS_ENGINE_WORKERS`` (4): Python runs one thread at a time (the GIL), and waiting
    calls queue in the pool, not on the socket.
    """
    return EngineServer(addr, deps, max_workers)


def create_server(
    addr: str, deps: Deps, *, max_workers: int | None = None
) -> tuple[EngineServer, int]:
    """A bound, not yet started server for ``addr`` and the port it got (for ":0")."""
    built = build_server(addr, deps, max_workers=max_workers)
    return built, built.port


_loop: asyncio.AbstractEventLoop | None = None
_loop_guard = threading.Lock()


def event_loop() -> asyncio.AbstractEventLoop:
    """This process's gRPC event loop, running in a daemon thread from its first use.

    One loop for every server of the process: grpc.aio binds its completion queue to a loop.
    """
    global _loop
    with _loop_guard:
        if _loop is None:
            loop = asyncio.new_event_loop()
            threading.Thread(target=loop.run_forever, name="grpc-loop", daemon=True).start()
            _loop = loop
        return _loop


def _bind(server: aio.Server, addr: str, deps: Deps) -> int:
    settings = deps.settings
    if bool(settings.tls_cert) != bool(settings.tls_key):
        raise ConfigError(
            "set both MICROBSS_ENGINE_TLS_CERT and MICROBSS_ENGINE_TLS_KEY, or neither"
        )
    try:
        if settings.tls_cert:
            credentials = grpc.ssl_server_credentials(
                [
                    (
                        _read(settings.tls_key, "MICROBSS_ENGINE_TLS_KEY"),
                        _read(settings.tls_cert, "MICROBSS_ENGINE_TLS_CERT"),
                    )
                ]
            )
            port = server.add_secure_port(addr, credentials)
        else:
            port = server.add_insecure_port(addr)
    except RuntimeError as err:
        raise ConfigError(f"cannot listen on {addr}: {err}") from err
    if port == 0:
        raise ConfigError(f"cannot listen on {addr} (address in use or not local?)")
    return port


def _read(path: str, variable: str) -> bytes:
    try:
        return Path(path).read_bytes()
    except OSError as err:
        raise ConfigError(f"{variable}: cannot read {path}: {err.strerror}") from None


def freeze_startup_objects() -> None:
    """Exempt what is alive at start-up from the cycle collector for good.

    Modules, table metadata and compiled statements live as long as the process; frozen, the
    collector's full passes no longer walk them, which otherwise pause every call in flight
    for tens of milliseconds now and then (the p99 latency of bench/rpc.py).
    """
    gc.collect()
    gc.freeze()


def serve(deps: Deps, addr: str | None = None) -> None:
    """Serve until SIGTERM/SIGINT, then drain in-flight calls and return."""
    listen = addr or deps.settings.listen
    built = build_server(listen, deps)
    stop_requested = threading.Event()

    def _on_signal(signum: int, _frame: FrameType | None) -> None:
        log.info("received %s: draining in-flight calls", signal.Signals(signum).name)
        stop_requested.set()

    previous = {sig: signal.signal(sig, _on_signal) for sig in (signal.SIGTERM, signal.SIGINT)}
    freeze_startup_objects()
    with deferred_log_writes():  # one access line per call, written off the worker threads
        built.start()
        scheme = "TLS" if deps.settings.tls_cert else "plaintext"
        host = listen.rsplit(":", 1)[0]
        log.info(
            "engine listening on %s:%d (%s%s)",
            host,
            built.port,
            scheme,
            ", bearer token required" if deps.settings.token else "",
        )
        try:
            stop_requested.wait()
        finally:
            built.enter_graceful_shutdown()
            built.stop(grace=SHUTDOWN_GRACE_S).wait()
            for sig, handler in previous.items():
                signal.signal(sig, handler)
            log.info("engine stopped")
