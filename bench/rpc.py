"""RPC rate of the engine API: GetSubscriber and RedeemVoucher against the health Check ceiling.

The server runs in a separate (spawned) process on a temporary SQLite database with generated
subscribers and vouchers, logging one line per call to a file as `engine serve` would; this
process drives 16 calls in flight from 16 threads. The health Check, measured in the same run,
is the ceiling: what this machine's Python gRPC stack answers with no work behind it.

The three are measured in interleaved rounds (health, GetSubscriber, RedeemVoucher, then again),
so that load from other work on a shared machine falls on the ceiling and on the calls alike;
each rate is total calls over total time, each percentile over all of its calls. A plain grpc
server answering only health, in a third process, is measured in the same rounds as a
reference: each record also gives its rate as a ratio to that server's.
Prints one JSON line per measurement.
"""

from __future__ import annotations

import json
import logging
import multiprocessing
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from datetime import date
from multiprocessing.synchronize import Event
from pathlib import Path
from typing import Any

import grpc
from grpc_health.v1 import health_pb2, health_pb2_grpc

IN_FLIGHT = 16
SUBSCRIBERS = 200
CALLS = {"health": 6000, "get_subscriber": 6000, "redeem_voucher": 3000}
ROUNDS = 3
TARGET_RATIO = {"rpc_get_subscriber": 0.5, "rpc_redeem_voucher": 0.25}
P99_TARGET_MS = 50.0


# --- Server process --------------------------------------------------------------------------


def _seed(deps: Any, vouchers_needed: int) -> tuple[list[int], list[str]]:
    """A catalog, SUBSCRIBERS prepaid subscribers and fresh vouchers; (subscriber ids, PINs)."""
    from sqlalchemy import insert

    from microbss.engine.domain.catalog import (
        Allowance,
        Band,
        Catalog,
        PaymentType,
        PricePlan,
        RatingStrategy,
        Service,
        ServiceUnit,
        Tariff,
        Zone,
    )
    from microbss.engine.domain.identifiers import luhn_check_digit
    from microbss.engine.domain.periods import utcnow
    from microbss.engine.domain.subscriber import Address, NewSubscriber, PaymentData, PaymentMethod
    from microbss.engine.domain.voucher import generate_pin, hash_pin
    from microbss.engine.services.subscribers import create_subscriber
    from microbss.engine.storage.catalog_repository import replace_catalog
    from microbss.engine.storage.tables import resources, vouchers
    from microbss.engine.storage.uow import UnitOfWork

    plan = PricePlan(
        id=1,
        code="BENCH",
        name="Bench prepaid",
        payment_type=PaymentType.PREPAID,
        currency="EUR",
        monthly_fee=0,
        initial_credit=500,
        tariffs=(Tariff("VOICE", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_UNIT, 9, 60),),
        allowances=(Allowance("VOICE", 600),),
    )
    catalog = Catalog(
        services={"VOICE": Service("VOICE", "Voice", ServiceUnit.SECOND)}, price_plans={1: plan}
    )
    now = utcnow()
    msisdns = [f"346{i:08d}" for i in range(SUBSCRIBERS)]
    imsis = [f"214010{i:09d}" for i in range(SUBSCRIBERS)]
    imeis = [f"35209900{i:06d}" for i in range(SUBSCRIBERS)]
    imeis = [body + str(luhn_check_digit(body)) for body in imeis]
    with UnitOfWork(deps.db, write=True) as uow:
        replace_catalog(uow.conn, catalog)
        for type_, values in (("MSISDN", msisdns), ("IMSI", imsis), ("HANDSET", imeis)):
            uow.conn.execute(
                insert(resources),
                [
                    {"type": type_, "value": v, "model": "Bench phone", "created_at": now}
                    for v in values
                ],
            )
        uow.commit()
    ids = []
    for i in range(SUBSCRIBERS):
        new = NewSubscriber(
            msisdn=msisdns[i],
            imsi=imsis[i],
            handset_imei=imeis[i],
            identity_number=f"{i:08d}Z",
            first_name="Bench",
            last_name=f"User {chr(65 + i % 26)}",
            date_of_birth=date(1980, 1, 1),
            payment_type=PaymentType.PREPAID,
            price_plan_id=1,
            address=Address("Calle 1", "Madrid", "28013", "ES"),
            email=f"u{i}@example.com",
            payment=PaymentData(method=PaymentMethod.CASH),
        )
        ids.append(create_subscriber(deps, "bench", new).subscriber.id)
    pins = [generate_pin() for _ in range(vouchers_needed)]
    with UnitOfWork(deps.db, write=True) as uow:
        uow.conn.execute(
            insert(vouchers),
            [
                {
                    "serial": f"BENCH-{n:07d}",
                    "batch": "BENCH",
                    "value_minor": 100,
                    "currency": "EUR",
                    "pin_hash": hash_pin(pin, deps.settings.secret),
                    "state": 1,
                    "created_at": now,
                    "state_changed_at": now,
                }
                for n, pin in enumerate(pins)
            ],
        )
        uow.commit()
    return ids, pins


def _serve(data_dir: str, ready: Any, stop: Event) -> None:
    os.environ.update({"MICROBSS_DATA_DIR": data_dir, "MICROBSS_SECRET": "bench-secret"})
    logging.basicConfig(
        filename=str(Path(data_dir) / "engine.log"),
        level=logging.INFO,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    from microbss.engine.api.deferred_logging import deferred_log_writes
    from microbss.engine.api.server import create_server, freeze_startup_objects
    from microbss.engine.deps import build_deps

    deps = build_deps()
    ids, pins = _seed(deps, CALLS["redeem_voucher"] + 100)
    server, port = create_server("127.0.0.1:0", deps)
    freeze_startup_objects()  # as `engine serve` does
    with deferred_log_writes():  # as `engine serve` does
        server.start()
        ready.put((port, ids, pins))
        stop.wait()
        server.stop(grace=5).wait()


def _serve_plain_health(ready: Any, stop: Event) -> None:
    """A plain grpc (thread pool) server with only the health service: a reference beside the
    engine's own health Check, so that a change to the engine's server that slows its health
    calls cannot pass for a faster GetSubscriber (the figures report both ratios)."""
    from concurrent import futures

    from grpc_health.v1 import health

    server = grpc.server(futures.ThreadPoolExecutor(max_workers=4))
    health_pb2_grpc.add_HealthServicer_to_server(health.HealthServicer(), server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    ready.put(port)
    stop.wait()
    server.stop(0).wait()


# --- Load generator --------------------------------------------------------------------------


def _drive(calls: list[Callable[[], Any]]) -> tuple[float, list[float]]:
    """Run ``calls`` with IN_FLIGHT threads; (calls per second, latencies in ms)."""
    latencies: list[float] = []
    lock = threading.Lock()
    queue = iter(calls)
    failures: list[BaseException] = []

    def worker() -> None:
        mine = []
        while True:
            with lock:
                call = next(queue, None)
            if call is None:
                break
            started = time.perf_counter()
            try:
                call()
            except grpc.RpcError as err:
                failures.append(err)
            mine.append((time.perf_counter() - started) * 1000)
        with lock:
            latencies.extend(mine)

    threads = [threading.Thread(target=worker) for _ in range(IN_FLIGHT)]
    started = time.perf_counter()
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"{len(failures)} calls failed, first: {failures[0]}")
    return len(calls) / elapsed, latencies


def _combined(rounds: list[tuple[float, list[float]]]) -> tuple[float, list[float]]:
    """Rounds of (rate, latencies) -> (total calls over total time, every latency)."""
    calls = sum(len(latencies) for _, latencies in rounds)
    seconds = sum(len(latencies) / rate for rate, latencies in rounds)
    return calls / seconds, [ms for _, latencies in rounds for ms in latencies]


def _percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(fraction * len(ordered)))]


def _report(name: str, rate: float, latencies: list[float], ceiling: float) -> dict[str, Any]:
    record: dict[str, Any] = {
        "bench": name,
        "calls_per_s": round(rate, 1),
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(_percentile(latencies, 0.99), 2),
        "in_flight": IN_FLIGHT,
        "calls": len(latencies),
        "db": "sqlite",
    }
    if name in TARGET_RATIO:
        record.update(
            ceiling_calls_per_s=round(ceiling, 1),
            ratio=round(rate / ceiling, 3),
            target_ratio=TARGET_RATIO[name],
            p99_target_ms=P99_TARGET_MS,
        )
        record["meets_target"] = bool(
            record["ratio"] >= TARGET_RATIO[name] and record["p99_ms"] < P99_TARGET_MS
        )
    return record


def main() -> int:
    from microbss.v1 import engine_pb2, engine_pb2_grpc

    context = multiprocessing.get_context("spawn")
    with tempfile.TemporaryDirectory(prefix="microbss-bench-rpc-") as data_dir:
        ready, stop = context.Queue(), context.Event()
        server = context.Process(target=_serve, args=(data_dir, ready, stop), daemon=True)
        server.start()
        plain_ready = context.Queue()
        plain = context.Process(target=_serve_plain_health, args=(plain_ready, stop), daemon=True)
        plain.start()
        try:
            port, ids, pins = ready.get(timeout=300)
            channel = grpc.insecure_channel(f"127.0.0.1:{port}")
            plain_channel = grpc.insecure_channel(f"127.0.0.1:{plain_ready.get(timeout=60)}")
            health = health_pb2_grpc.HealthStub(channel)
            plain_health = health_pb2_grpc.HealthStub(plain_channel)
            engine = engine_pb2_grpc.EngineStub(channel)
            md = [("x-actor", "bench")]
            rng = random.Random(7)

            def check() -> Any:
                return health.Check(health_pb2.HealthCheckRequest(), timeout=30)

            def plain_check() -> Any:
                return plain_health.Check(health_pb2.HealthCheckRequest(), timeout=30)

            def get(subscriber_id: int) -> Callable[[], Any]:
                request = engine_pb2.GetSubscriberRequest(subscriber_id=subscriber_id)
                return lambda: engine.GetSubscriber(request, metadata=md, timeout=30)

            def redeem(subscriber_id: int, pin: str) -> Callable[[], Any]:
                request = engine_pb2.RedeemVoucherRequest(subscriber_id=subscriber_id, pin=pin)
                return lambda: engine.RedeemVoucher(request, metadata=md, timeout=30)

            _drive([check] * 500 + [get(rng.choice(ids)) for _ in range(300)])  # warm up
            fresh = iter(pins)
            rounds: dict[str, list[tuple[float, list[float]]]] = {
                name: [] for name in (*CALLS, "plain_health")
            }
            for _ in range(ROUNDS):
                rounds["health"].append(_drive([check] * (CALLS["health"] // ROUNDS)))
                rounds["plain_health"].append(_drive([plain_check] * (CALLS["health"] // ROUNDS)))
                gets = [get(rng.choice(ids)) for _ in range(CALLS["get_subscriber"] // ROUNDS)]
                rounds["get_subscriber"].append(_drive(gets))
                redeems = [
                    redeem(rng.choice(ids), next(fresh))
                    for _ in range(CALLS["redeem_voucher"] // ROUNDS)
                ]
                rounds["redeem_voucher"].append(_drive(redeems))
            channel.close()
            plain_channel.close()
            ceiling, health_latencies = _combined(rounds["health"])
            reference = _combined(rounds["plain_health"])[0]
            results = [_report("rpc_health_check", ceiling, health_latencies, ceiling)]
            for name in ("get_subscriber", "redeem_voucher"):
                rate, latencies = _combined(rounds[name])
                results.append(_report(f"rpc_{name}", rate, latencies, ceiling))
            for record in results:
                record["plain_server_health_calls_per_s"] = round(reference, 1)
                record["ratio_to_plain_server"] = round(record["calls_per_s"] / reference, 3)
        finally:
            stop.set()
            server.join(timeout=30)
            plain.join(timeout=30)
    for record in results:
        print(json.dumps(record), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
