"""deferred_log_writes: the server's log lines are written by one background thread, in order,
and none is lost when the block ends."""

from __future__ import annotations

import logging
import threading

from microbss.engine.api.deferred_logging import deferred_log_writes


class _Recording(logging.Handler):
    def __init__(self) -> None:
        super().__init__()
        self.lines: list[str] = []
        self.threads: set[str] = set()

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())
        self.threads.add(threading.current_thread().name)


def _logger_with(handler: logging.Handler) -> logging.Logger:
    logger = logging.getLogger(f"test.deferred.{id(handler)}")
    logger.propagate = False
    logger.setLevel(logging.DEBUG)
    logger.addHandler(handler)
    return logger


def test_every_line_logged_inside_the_block_is_written_in_order_when_it_ends() -> None:
    recording = _Recording()
    logger = _logger_with(recording)
    with deferred_log_writes(logger, interval=60):  # the timer never fires: only the end writes
        for n in range(500):
            logger.info("call %d", n)
    assert recording.lines == [f"call {n}" for n in range(500)]


def test_lines_are_written_by_the_writer_thread_not_by_the_callers() -> None:
    recording = _Recording()
    logger = _logger_with(recording)
    with deferred_log_writes(logger, interval=0.01):
        workers = [
            threading.Thread(target=logger.info, args=("from worker",), name=f"rpc_{n}")
            for n in range(4)
        ]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
    assert recording.lines == ["from worker"] * 4
    assert not any(name.startswith("rpc_") for name in recording.threads)


def test_the_handlers_are_back_in_place_after_the_block() -> None:
    recording = _Recording()
    logger = _logger_with(recording)
    with deferred_log_writes(logger):
        assert recording not in logger.handlers
    assert logger.handlers == [recording]
    logger.info("after")
    assert recording.lines[-1] == "after"
    assert recording.threads == {threading.current_thread().name}


def test_a_handler_keeps_its_own_level() -> None:
    recording = _Recording()
    recording.setLevel(logging.WARNING)
    logger = _logger_with(recording)
    with deferred_log_writes(logger, interval=60):
        logger.info("quiet")
        logger.warning("loud")
    assert recording.lines == ["loud"]
