"""Log records written by one background thread in batches, while the server serves.

``engine serve`` logs one access line per call. Written by the calling worker thread, every line
took the handler's lock and a write and flush while the other workers queued for that lock:
about 12% of the server's time under the GIL at 16 calls in flight (py-spy --gil, bench/rpc.py).
Inside :func:`deferred_log_writes` a worker only puts the record on a queue; one thread formats
and writes whatever has queued every ``interval`` seconds, through the handlers that were
configured before. Lines keep their order and appear at most ``interval`` late; leaving the
block (a clean stop, or an exception) writes everything still queued. A process killed outright
(SIGKILL) loses at most the last ``interval`` of lines. Records are formatted when written, so a
log call's arguments must not change after the call (the engine logs strings and numbers).

Waking a writer thread per record would cost a thread switch per call, which is as expensive as
the writing it saves on this kind of machine; hence batches on a timer, not a blocking get().
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from queue import Empty, SimpleQueue

DEFAULT_INTERVAL_S = 0.2


class _Enqueue(logging.Handler):
    """Puts records on the queue as they are: the writer formats them (the worker does not)."""

    def __init__(self, queue: SimpleQueue[logging.LogRecord]) -> None:
        super().__init__()
        self._queue = queue

    def handle(self, record: logging.LogRecord) -> bool:  # no lock: SimpleQueue is thread-safe
        self._queue.put(record)
        return True

    def emit(self, record: logging.LogRecord) -> None:
        self._queue.put(record)


class _Writer(threading.Thread):
    def __init__(
        self,
        queue: SimpleQueue[logging.LogRecord],
        handlers: list[logging.Handler],
        interval: float,
    ) -> None:
        super().__init__(name="log-writer", daemon=True)
        self._queue = queue
        self._handlers = handlers
        self._interval = interval
        self.stopping = threading.Event()

    def run(self) -> None:
        while not self.stopping.wait(self._interval):
            self.write_queued()
        self.write_queued()

    def write_queued(self) -> None:
        written = False
        while True:
            try:
                record = self._queue.get_nowait()
            except Empty:
                break
            for handler in self._handlers:
                if record.levelno >= handler.level:
                    handler.handle(record)
            written = True
        if written:
            for handler in self._handlers:
                handler.flush()


@contextmanager
def deferred_log_writes(
    logger: logging.Logger | None = None, interval: float = DEFAULT_INTERVAL_S
) -> Iterator[None]:
    """Route ``logger``'s (default: the root logger's) handlers through the batch writer."""
    target = logger or logging.getLogger()
    handlers = list(target.handlers)
    if not handlers:
        yield
        return
    queue: SimpleQueue[logging.LogRecord] = SimpleQueue()
    writer = _Writer(queue, handlers, interval)
    enqueue = _Enqueue(queue)
    for handler in handlers:
        target.removeHandler(handler)
    target.addHandler(enqueue)
    writer.start()
    try:
        yield
    finally:
        target.removeHandler(enqueue)
        for handler in handlers:
            target.addHandler(handler)
        writer.stopping.set()
        writer.join()
        writer.write_queued()  # anything logged between the writer's last pass and now
