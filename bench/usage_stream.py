"""GetSubscriberUsage stream rate: 100,000 rated CDRs of one subscriber to a client.

The server runs in a spawned process on a temporary SQLite database seeded directly with the rows;
the client consumes one stream and counts rows per second. The ceiling, measured in the same run,
streams the very messages the server sent (kept by the client) again from memory through a bare
servicer, so the ratio shows what the database reads and the mapping cost. A second stream of
the same rows is read by a client that also touches every row's charge and start time (protobuf
decodes nested fields lazily), to show what such a client gets. Prints JSON lines.
"""

from __future__ import annotations

import json
import multiprocessing
import os
import sys
import tempfile
import time
from concurrent import futures
from datetime import datetime, timedelta
from typing import Any

import grpc

ROWS = 100_000
ROWS_PER_MESSAGE = 1000
TARGET_ROWS_PER_S = 150_000


def _seed(deps: Any) -> int:
    from sqlalchemy import insert

    from microbss.engine.storage.tables import rated_cdrs
    from tests.integration.usage_data import add_subscriber, seed_catalog

    seed_catalog(deps)
    subscriber_id = add_subscriber(deps, "34600000001", prepaid=False)
    now = datetime.now().replace(microsecond=0)
    rows = [
        {
            "cdr_id": f"bench-{i}",
            "subscriber_id": subscriber_id,
            "service_id": "VOICE",
            "started_at": now - timedelta(seconds=60 * i),
            "quantity": 61,
            "other_party": "34911000000",
            "zone": "NATIONAL",
            "band": "PEAK",
            "billable_quantity": 120,
            "allowance_used": 60 if i % 3 == 0 else 0,
            "charge_minor": 20,
            "currency": "EUR",
            "flags": 1 if i % 50 == 0 else 0,
            "payment_type": "POSTPAID",
            "bill_id": 7 if i >= ROWS // 2 else None,  # the older half billed
            "source": "bench",
            "rated_at": now,
        }
        for i in range(ROWS)
    ]
    with deps.db.begin() as conn:
        conn.execute(insert(rated_cdrs), rows)
    return subscriber_id


def _serve(data_dir: str, ready: Any, stop: Any) -> None:
    os.environ.update({"MICROBSS_DATA_DIR": data_dir, "MICROBSS_SECRET": "bench-secret"})
    from microbss.engine.api.server import create_server
    from microbss.engine.deps import build_deps

    deps = build_deps()
    subscriber_id = _seed(deps)
    server, port = create_server("127.0.0.1:0", deps)
    server.start()
    ready.put((port, subscriber_id))
    stop.wait()
    server.stop(grace=2).wait()


def _memory_ceiling(messages: list[bytes]) -> float:
    """The same stream messages (as the server sent them) streamed again from memory."""
    from microbss.v1 import engine_pb2, engine_pb2_grpc

    chunks = [engine_pb2.UsageChunk.FromString(message) for message in messages]

    class Memory(engine_pb2_grpc.EngineServicer):
        def GetSubscriberUsage(self, request: Any, context: Any) -> Any:
            yield from chunks

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    engine_pb2_grpc.add_EngineServicer_to_server(Memory(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    try:
        return _consume(port, 1)[0]
    finally:
        server.stop(0)


def _consume(port: int, subscriber_id: int, touch: bool = False) -> tuple[float, list[bytes]]:
    """Rows per second of one stream, and its messages (serialized once the clock stopped);
    ``touch``: the client also reads every row's charge and start time as they arrive."""
    from microbss.v1 import engine_pb2, engine_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = engine_pb2_grpc.EngineStub(channel)
        request = engine_pb2.GetSubscriberUsageRequest(
            subscriber_id=subscriber_id, rows_per_message=ROWS_PER_MESSAGE
        )
        started = time.perf_counter()
        chunks = []
        total_minor = latest = 0
        for chunk in stub.GetSubscriberUsage(request, timeout=300):
            if touch:
                for cdr in chunk.cdrs:
                    total_minor += cdr.charge.amount_minor
                    latest = max(latest, cdr.started_at.seconds)
            chunks.append(chunk)
        elapsed = time.perf_counter() - started
    if touch and not (total_minor and latest):
        raise SystemExit("the touching client read no charge or start time")
    rows = sum(len(chunk.cdrs) for chunk in chunks)
    if rows != ROWS:
        raise SystemExit(f"expected {ROWS} rows, streamed {rows}")
    return rows / elapsed, [chunk.SerializeToString() for chunk in chunks]


def main() -> int:
    ctx = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory() as data_dir:
        ready, stop = ctx.Queue(), ctx.Event()
        proc = ctx.Process(target=_serve, args=(data_dir, ready, stop))
        proc.start()
        try:
            port, subscriber_id = ready.get(timeout=600)
            rate, messages = _consume(port, subscriber_id)
            touching_rate, _ = _consume(port, subscriber_id, touch=True)
        finally:
            stop.set()
            proc.join(30)
    ceiling = _memory_ceiling(messages)
    print(
        json.dumps(
            {
                "bench": "usage_stream",
                "rows": ROWS,
                "rows_per_message": ROWS_PER_MESSAGE,
                "rows_per_s": round(rate),
                "ceiling_rows_per_s": round(ceiling),
                "ratio": round(rate / ceiling, 3),
                "touching_client_rows_per_s": round(touching_rate),
                "target_rows_per_s": TARGET_ROWS_PER_S,
                "meets_target": rate >= TARGET_ROWS_PER_S,
            }
        ),
        flush=True,
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
