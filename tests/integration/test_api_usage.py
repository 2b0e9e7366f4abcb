"""GetSubscriberUsage over a real server: rated CDRs newest first, many per message."""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp
from sqlalchemy import insert

from microbss.engine.api.server import create_server
from microbss.engine.deps import Deps
from microbss.engine.domain.errors import FailedPrecondition
from microbss.engine.domain.periods import utcnow
from microbss.engine.jobs.cdr_loader import load_cdr_files
from microbss.engine.services import usage as usage_service
from microbss.engine.storage.tables import rated_cdrs
from microbss.v1 import engine_pb2, engine_pb2_grpc
from tests.integration.conftest import Client, rpc_error
from tests.integration.usage_data import add_subscriber, seed_catalog

ANA = "34600100200"


def ts(instant: datetime) -> Timestamp:
    message = Timestamp()
    message.FromDatetime(instant.replace(tzinfo=UTC))
    return message


def insert_cdrs(deps: Deps, subscriber_id: int, started: list[datetime]) -> None:
    rows = [
        {
            "cdr_id": f"U{subscriber_id}-{n:06d}",
            "subscriber_id": subscriber_id,
            "service_id": "SMS",
            "started_at": at,
            "quantity": 1,
            "other_party": "34611111111",
            "zone": "NATIONAL",
            "band": "ANY",
            "billable_quantity": 1,
            "allowance_used": 0,
            "charge_minor": 9,
            "currency": "EUR",
            "flags": 0,
            "payment_type": "PREPAID",
            "rated_at": at,
        }
        for n, at in enumerate(started)
    ]
    with deps.db.begin() as conn:
        conn.execute(insert(rated_cdrs), rows)


def usage(client: Client, subscriber_id: int, **fields: object) -> list[engine_pb2.UsageChunk]:
    request = engine_pb2.GetSubscriberUsageRequest(subscriber_id=subscriber_id, **fields)  # type: ignore[arg-type]
    return list(client.stub.GetSubscriberUsage(request, metadata=client.md()))


def test_usage_streams_rated_cdrs_newest_first_with_charge_allowance_and_flags(
    deps: Deps, client: Client, tmp_path: Path
) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA, balance=60)
    now = utcnow().replace(microsecond=0)
    first, second = now - timedelta(days=2), now - timedelta(days=1)
    cdrs = tmp_path / "u.csv"
    cdrs.write_text(
        "cdr_id,msisdn,service,start_time,quantity,other_party,zone\n"
        f"A1,{ANA},VOICE,{first.isoformat()}Z,61,0044163296,INTERNATIONAL\n"
        f"A2,{ANA},VOICE,{second.isoformat()}Z,61,0044163296,INTERNATIONAL\n",
        encoding="utf-8",
    )
    load_cdr_files(deps, [cdrs], progress=False)

    (chunk,) = usage(client, ana)

    assert [c.cdr_id for c in chunk.cdrs] == ["A2", "A1"]
    newest = chunk.cdrs[0]
    assert newest.started_at.ToDatetime() == second
    assert (newest.service, newest.unit, newest.quantity) == ("VOICE", "SECOND", 61)
    assert (newest.zone, newest.other_party, newest.billable_quantity) == (
        "INTERNATIONAL",
        "0044163296",
        61,
    )
    # 61 s at 0.50/min per second = 50.83 cents, rounded once to 51.
    assert (newest.charge.currency, newest.charge.amount_minor) == ("EUR", 51)
    assert newest.allowance_used == 0 and newest.bill_id == 0
    # The balance of 0.60 covered the first call but not the second.
    assert list(chunk.cdrs[1].flags) == [] and list(newest.flags) == ["NEGATIVE_BALANCE"]


def test_usage_comes_in_messages_of_the_requested_size_in_a_stable_order(
    deps: Deps, client: Client
) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow().replace(microsecond=0)
    # Pairs of CDRs share a start time, so paging must break ties by row id.
    insert_cdrs(deps, ana, [now - timedelta(minutes=n // 2) for n in range(2500)])

    chunks = usage(client, ana, rows_per_message=1000)

    assert [len(c.cdrs) for c in chunks] == [1000, 1000, 500]
    ids = [cdr.cdr_id for c in chunks for cdr in c.cdrs]
    assert len(set(ids)) == 2500
    times = [cdr.started_at.ToDatetime() for c in chunks for cdr in c.cdrs]
    assert times == sorted(times, reverse=True)
    default = usage(client, ana)
    assert [len(c.cdrs) for c in default] == [1000, 1000, 500]


def test_the_default_window_is_the_last_three_months(deps: Deps, client: Client) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA, activated_at=datetime(2020, 1, 1))
    now = utcnow()
    insert_cdrs(deps, ana, [now - timedelta(days=10), now - timedelta(days=100)])
    (chunk,) = usage(client, ana)
    assert len(chunk.cdrs) == 1
    wider = usage(client, ana, **{"from": ts(now - timedelta(days=120))})
    assert sum(len(c.cdrs) for c in wider) == 2


def test_a_subscriber_without_usage_gets_an_empty_stream(deps: Deps, client: Client) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    assert usage(client, ana) == []


def test_an_unknown_subscriber_is_not_found(deps: Deps, client: Client) -> None:
    seed_catalog(deps)
    error = rpc_error(lambda: usage(client, 999))
    assert error.code() == grpc.StatusCode.NOT_FOUND


def test_a_bad_window_or_message_size_is_an_invalid_argument_naming_the_field(
    deps: Deps, client: Client
) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow()
    backwards = rpc_error(
        lambda: usage(client, ana, **{"from": ts(now), "to": ts(now - timedelta(days=1))})
    )
    assert backwards.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "from" in (backwards.details() or "")
    too_long = rpc_error(lambda: usage(client, ana, **{"from": ts(now - timedelta(days=500))}))
    assert too_long.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "13 months" in (too_long.details() or "")
    too_big = rpc_error(lambda: usage(client, ana, rows_per_message=6000))
    assert too_big.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert "rows_per_message" in (too_big.details() or "")


def test_billed_usage_shows_the_bill_that_carries_it_and_the_allowance_it_used(
    deps: Deps, client: Client, tmp_path: Path
) -> None:
    seed_catalog(deps)
    bea = add_subscriber(deps, ANA, prepaid=False)
    # Two calls on the 10th of last month, well inside one billing period (cycle day 1).
    this_month = utcnow().replace(day=1, hour=0, minute=0, second=0, microsecond=0)
    first = (this_month - timedelta(days=1)).replace(day=10, hour=9)
    cdrs = tmp_path / "u.csv"
    # The plan includes 120 s of national voice: the first call uses 60 s of it, the second the
    # other 60 s and pays for the rest.
    cdrs.write_text(
        "cdr_id,msisdn,service,start_time,quantity,other_party,zone\n"
        f"B1,{ANA},VOICE,{first.isoformat()}Z,60,34911000000,NATIONAL\n"
        f"B2,{ANA},VOICE,{(first + timedelta(hours=1)).isoformat()}Z,120,34911000000,NATIONAL\n",
        encoding="utf-8",
    )
    load_cdr_files(deps, [cdrs], progress=False)
    bill = client.stub.ExecuteBilling(
        engine_pb2.ExecuteBillingRequest(subscriber_id=bea), metadata=client.md()
    )

    (chunk,) = usage(client, bea)

    assert [(c.cdr_id, c.allowance_used, c.bill_id) for c in chunk.cdrs] == [
        ("B2", 60, bill.bill_id),
        ("B1", 60, bill.bill_id),
    ]
    assert chunk.cdrs[1].charge.amount_minor == 0 and chunk.cdrs[0].charge.amount_minor > 0


def test_paging_splits_cdrs_with_the_same_start_time_without_losing_or_repeating_one(
    deps: Deps,
) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow().replace(microsecond=0)
    # Triples share a start time; queries of 4 rows (messages of 2) cut through them.
    insert_cdrs(deps, ana, [now - timedelta(minutes=n // 3) for n in range(30)])
    query = usage_service.usage_query(deps, ana, None, None, 2)

    chunks = list(usage_service.stream_usage(deps, query, rows_per_query=4))

    assert [len(c.rows) for c in chunks] == [2] * 15
    ids = [row[0] for c in chunks for row in c.rows]
    assert sorted(ids) == sorted(f"U{ana}-{n:06d}" for n in range(30))
    times = [row[2] for c in chunks for row in c.rows]
    assert times == sorted(times, reverse=True)


def test_start_times_keep_their_microseconds_across_pages(deps: Deps, client: Client) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow().replace(microsecond=0)
    # Pairs share a start time with a fraction of a second; messages of 3 cut through pairs, and
    # each page starts after the last row's exact start time.
    started = [
        now - timedelta(seconds=n // 2, microseconds=250_001 * (n // 2 % 4)) for n in range(12)
    ]
    insert_cdrs(deps, ana, started)

    chunks = usage(client, ana, rows_per_message=3)

    times = [cdr.started_at.ToDatetime() for c in chunks for cdr in c.cdrs]
    assert times == sorted(started, reverse=True)
    assert len({cdr.cdr_id for c in chunks for cdr in c.cdrs}) == 12


@pytest.mark.parametrize("sqlite_version", [(3, 37, 2), (3, 40, 1)])
def test_sqlite_reads_a_stored_start_time_as_microseconds_since_the_epoch(
    sqlite_version: tuple[int, ...],
) -> None:
    import sqlite3

    micros = usage_service.sqlite_epoch_micros("?", sqlite_version).replace("?", "?1")
    with sqlite3.connect(":memory:") as conn:
        for text, expected in [
            ("2026-03-29 01:59:59.999999", datetime(2026, 3, 29, 1, 59, 59, 999999)),
            ("2026-11-28 05:04:35.000001", datetime(2026, 11, 28, 5, 4, 35, 1)),
            ("1999-12-31 23:59:59", datetime(1999, 12, 31, 23, 59, 59)),
        ]:
            (value,) = conn.execute(f"SELECT {micros}", (text,)).fetchone()
            assert datetime(1970, 1, 1) + timedelta(microseconds=value) == expected


def test_a_stream_of_whole_messages_ends_without_an_empty_one(deps: Deps, client: Client) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow().replace(microsecond=0)
    insert_cdrs(deps, ana, [now - timedelta(minutes=n) for n in range(20)])

    assert [len(c.cdrs) for c in usage(client, ana, rows_per_message=10)] == [10, 10]


def test_a_stream_paused_between_messages_holds_no_read_snapshot(deps: Deps) -> None:
    if deps.db.dialect.name != "sqlite":
        return  # checked through SQLite's WAL checkpoint; on PostgreSQL it is the same code
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow().replace(microsecond=0)
    insert_cdrs(deps, ana, [now - timedelta(minutes=n) for n in range(50)])
    # The service's generator, paused after one message as it is while a slow client reads.
    query = usage_service.usage_query(deps, ana, None, None, 10)
    stream = usage_service.stream_usage(deps, query, rows_per_query=10)
    try:
        assert len(next(stream).rows) == 10
        insert_cdrs(deps, add_subscriber(deps, "34600100201"), [now])
        with deps.db.connect() as conn:
            busy, _log, _done = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").one()
        # A reader still holding a snapshot would make a full checkpoint report busy.
        assert busy == 0
        assert sum(len(chunk.rows) for chunk in stream) == 40  # and the stream goes on
    finally:
        stream.close()


class WatchedStreams:
    """Wraps the usage service's generator so a test sees when the server closes it, and can
    hold the server inside one step (the database read of message ``hold_at``)."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, hold_at: int = 0) -> None:
        self.closed = threading.Event()
        self.holding = threading.Event()
        self.release = threading.Event()
        real = usage_service.stream_usage

        def watched(deps: Deps, query: usage_service.UsageQuery) -> Iterator[Any]:
            try:
                for n, chunk in enumerate(real(deps, query), start=1):
                    if n == hold_at:
                        self.holding.set()
                        self.release.wait(10)
                    yield chunk
            finally:
                self.closed.set()

        monkeypatch.setattr(usage_service, "stream_usage", watched)


def access_log(caplog: pytest.LogCaptureFixture, method: str) -> list[str]:
    return [
        r.getMessage()
        for r in caplog.records
        if r.name == "microbss.engine.api"
        and r.getMessage().startswith(f"/microbss.v1.Engine/{method} ")
    ]


def eventually(condition: Callable[[], bool], timeout: float = 5.0) -> bool:
    deadline = time.monotonic() + timeout
    while not condition():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.02)
    return True


def assert_the_server_dropped_the_cancelled_stream_and_still_serves(
    deps: Deps, client: Client, caplog: pytest.LogCaptureFixture, watched: WatchedStreams, ana: int
) -> None:
    assert watched.closed.wait(5), "the server never closed the stream's generator"
    assert eventually(lambda: access_log(caplog, "GetSubscriberUsage") != [])
    assert [line.split()[1] for line in access_log(caplog, "GetSubscriberUsage")] == ["CANCELLED"]
    assert eventually(lambda: deps.db.pool.checkedout() == 0)  # type: ignore[attr-defined]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
    again = usage(client, ana, rows_per_message=5000)
    assert sum(len(c.cdrs) for c in again) == 30_000


def test_a_client_cancelling_a_usage_stream_midway_frees_it_and_the_server_keeps_serving(
    deps: Deps,
    start_server: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The client reads one message and hangs up while the server waits for it to read more
    (its flow-control window is full): the server must close the stream's generator, log the
    call as CANCELLED, and go on serving."""
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow().replace(microsecond=0)
    insert_cdrs(deps, ana, [now - timedelta(seconds=n) for n in range(30_000)])
    watched = WatchedStreams(monkeypatch)
    client = start_server()
    # Without BDP probing the window stays at 64 KiB, less than one message of 5000 CDRs.
    slow_reader = grpc.insecure_channel(
        f"127.0.0.1:{client.port}", options=[("grpc.http2.bdp_probe", 0)]
    )
    caplog.set_level(logging.INFO)
    try:
        call = engine_pb2_grpc.EngineStub(slow_reader).GetSubscriberUsage(
            engine_pb2.GetSubscriberUsageRequest(subscriber_id=ana, rows_per_message=5000)
        )
        assert len(next(call).cdrs) == 5000
        time.sleep(0.3)  # the server fills the window and waits
        call.cancel()

        assert_the_server_dropped_the_cancelled_stream_and_still_serves(
            deps, client, caplog, watched, ana
        )
    finally:
        slow_reader.close()


def test_a_client_cancelling_while_the_server_reads_the_next_message_frees_the_stream(
    deps: Deps,
    start_server: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """The cancel arrives while a worker is reading the stream's next message: the server
    closes the generator once that read returns (not while it runs), and logs CANCELLED."""
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow().replace(microsecond=0)
    insert_cdrs(deps, ana, [now - timedelta(seconds=n) for n in range(30_000)])
    watched = WatchedStreams(monkeypatch, hold_at=3)
    client = start_server()
    caplog.set_level(logging.INFO)

    call = client.stub.GetSubscriberUsage(
        engine_pb2.GetSubscriberUsageRequest(subscriber_id=ana, rows_per_message=5000)
    )
    assert len(next(call).cdrs) == 5000
    assert watched.holding.wait(5)
    call.cancel()
    time.sleep(0.2)  # the server hears of the cancel while the read still runs
    watched.release.set()

    assert_the_server_dropped_the_cancelled_stream_and_still_serves(
        deps, client, caplog, watched, ana
    )


def test_an_error_after_some_messages_ends_the_stream_with_its_status_and_request_id(
    deps: Deps,
    start_server: Callable[..., Client],
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow().replace(microsecond=0)
    insert_cdrs(deps, ana, [now - timedelta(seconds=n) for n in range(30)])
    real = usage_service.stream_usage

    def failing_after_two(deps: Deps, query: usage_service.UsageQuery) -> Iterator[Any]:
        chunks = real(deps, query)
        yield next(chunks)
        yield next(chunks)
        raise FailedPrecondition("the subscriber was purged while you read")

    monkeypatch.setattr(usage_service, "stream_usage", failing_after_two)
    client = start_server()
    caplog.set_level(logging.INFO, logger="microbss.engine.api")
    received: list[engine_pb2.UsageChunk] = []

    call = client.stub.GetSubscriberUsage(
        engine_pb2.GetSubscriberUsageRequest(subscriber_id=ana, rows_per_message=10)
    )
    error = rpc_error(lambda: received.extend(call))

    assert [len(chunk.cdrs) for chunk in received] == [10, 10]
    assert error.code() == grpc.StatusCode.FAILED_PRECONDITION
    assert error.details() == "the subscriber was purged while you read"
    request_id = dict(error.trailing_metadata() or ())["x-request-id"]
    assert eventually(lambda: access_log(caplog, "GetSubscriberUsage") != [])
    (line,) = access_log(caplog, "GetSubscriberUsage")
    assert line.split()[1] == "FAILED_PRECONDITION" and f"request_id={request_id}" in line


def test_a_stream_cut_off_by_stop_is_closed_before_stop_returns(
    deps: Deps, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """stop(grace=None) while a worker reads a stream's next message: the client hears at
    once, the read runs to its end, the generator is closed, and only then is the server
    stopped (the caller may close the database)."""
    seed_catalog(deps)
    ana = add_subscriber(deps, ANA)
    now = utcnow().replace(microsecond=0)
    insert_cdrs(deps, ana, [now - timedelta(seconds=n) for n in range(50)])
    watched = WatchedStreams(monkeypatch, hold_at=2)
    server, port = create_server("127.0.0.1:0", deps)
    server.start()
    caplog.set_level(logging.INFO)
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        call = engine_pb2_grpc.EngineStub(channel).GetSubscriberUsage(
            engine_pb2.GetSubscriberUsageRequest(subscriber_id=ana, rows_per_message=10)
        )
        assert len(next(call).cdrs) == 10
        assert watched.holding.wait(5)

        stopped = server.stop(grace=None)
        cut_off = rpc_error(lambda: list(call))
        assert not stopped.wait(0.2)  # the read still runs
        watched.release.set()

        assert stopped.wait(10)
    assert watched.closed.is_set()
    assert cut_off.code() == grpc.StatusCode.UNAVAILABLE
    assert [line.split()[1] for line in access_log(caplog, "GetSubscriberUsage")] == ["CANCELLED"]
    assert [r.getMessage() for r in caplog.records if r.levelno >= logging.ERROR] == []
