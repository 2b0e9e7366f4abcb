"""The server as an operator meets it: health, reflection, bearer token, error mapping, access
log, and the catalog/inventory read RPCs (GetRefData, GetAvailableResources)."""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from datetime import timedelta
from pathlib import Path

import grpc
import pytest
from google.protobuf.descriptor_pool import DescriptorPool
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)
from sqlalchemy import insert

from microbss.engine.api.server import create_server
from microbss.engine.api.servicers import EngineServicer
from microbss.engine.config import load_settings
from microbss.engine.deps import Deps
from microbss.engine.domain.periods import utcnow
from microbss.engine.services import refdata
from microbss.engine.storage.db import make_engine
from microbss.engine.storage.migrate import upgrade_to_head
from microbss.engine.storage.tables import rated_cdrs
from microbss.v1 import engine_pb2, engine_pb2_grpc, types_pb2
from tests.integration.conftest import (
    POSTPAID_PLAN_ID,
    PREPAID_PLAN_ID,
    Client,
    Inventory,
    add_resources,
    rpc_error,
)
from tests.integration.usage_data import add_subscriber, seed_catalog

ENGINE_RPCS = {
    "GetAvailableResources",
    "CreateSubscriber",
    "GetSubscriber",
    "SearchSubscribers",
    "GetRefData",
    "SelectVouchers",
    "UpdateVoucherState",
    "RedeemVoucher",
    "GetSubscriberUsage",
    "GetSubscriberBills",
    "ExecuteBilling",
    "GetInvoice",
    "TerminateSubscriber",
}


def test_health_reports_serving_for_the_server_and_the_engine_service(client: Client) -> None:
    health = health_pb2_grpc.HealthStub(client.channel)
    for service in ("", "microbss.v1.Engine"):
        reply = health.Check(health_pb2.HealthCheckRequest(service=service))
        assert reply.status == health_pb2.HealthCheckResponse.SERVING


def test_reflection_lists_every_engine_rpc(client: Client) -> None:
    database = ProtoReflectionDescriptorDatabase(client.channel)
    services = set(database.get_services())
    pool = DescriptorPool(database)
    engine = pool.FindServiceByName("microbss.v1.Engine")

    assert {"microbss.v1.Engine", "grpc.health.v1.Health"} <= services
    assert {method.name for method in engine.methods} == ENGINE_RPCS


def test_with_a_token_calls_need_the_bearer_token_but_health_stays_open(
    start_server: Callable[..., Client], catalog: object
) -> None:
    client = start_server(token="s3cret")
    request = engine_pb2.GetRefDataRequest()

    missing = rpc_error(lambda: client.stub.GetRefData(request, metadata=[("x-actor", "a")]))
    wrong = rpc_error(lambda: client.stub.GetRefData(request, metadata=client.md(token="nope")))
    answered = client.stub.GetRefData(request, metadata=client.md())
    health = health_pb2_grpc.HealthStub(client.channel).Check(health_pb2.HealthCheckRequest())

    assert missing.code() == grpc.StatusCode.UNAUTHENTICATED
    assert wrong.code() == grpc.StatusCode.UNAUTHENTICATED
    assert "bearer token" in wrong.details()
    assert len(answered.price_plans) == 2
    assert health.status == health_pb2.HealthCheckResponse.SERVING


def test_an_unexpected_error_is_internal_with_a_request_id_and_logged(
    client: Client,
    catalog: object,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def broken(_deps: Deps) -> object:
        raise RuntimeError("database password is hunter2")

    monkeypatch.setattr("microbss.engine.api.servicers.refdata.get_ref_data", broken)
    caplog.set_level(logging.INFO, logger="microbss.engine.api")

    error = rpc_error(lambda: client.stub.GetRefData(engine_pb2.GetRefDataRequest()))

    assert error.code() == grpc.StatusCode.INTERNAL
    assert error.details().startswith("internal error (request id ")
    assert "hunter2" not in error.details()
    request_id = error.details().removeprefix("internal error (request id ").rstrip(")")
    trailing = dict(error.trailing_metadata() or ())
    assert trailing["x-request-id"] == request_id
    logged = [r for r in caplog.records if request_id in r.getMessage()]
    assert any(r.exc_info for r in logged)  # the traceback is in the log, not the reply
    assert any("GetRefData INTERNAL" in r.getMessage() for r in logged)


def test_every_call_is_logged_with_method_status_duration_request_id_and_actor(
    client: Client, catalog: object, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="microbss.engine.api")

    client.stub.GetRefData(engine_pb2.GetRefDataRequest(), metadata=client.md("csr.luis"))
    rpc_error(lambda: client.stub.GetSubscriber(engine_pb2.GetSubscriberRequest(subscriber_id=5)))

    lines = [r.getMessage() for r in caplog.records if r.name == "microbss.engine.api"]
    assert any(
        line.startswith("/microbss.v1.Engine/GetRefData OK ")
        and "ms request_id=" in line
        and line.endswith("actor=csr.luis")
        for line in lines
    )
    assert any("/microbss.v1.Engine/GetSubscriber NOT_FOUND" in line for line in lines)


def test_ref_data_lists_plans_with_tariffs_allowances_services_and_cycles(
    client: Client, catalog: object, deps: Deps
) -> None:
    ref = client.stub.GetRefData(engine_pb2.GetRefDataRequest())

    plans = {p.id: p for p in ref.price_plans}
    assert set(plans) == {PREPAID_PLAN_ID, POSTPAID_PLAN_ID}
    postpaid = plans[POSTPAID_PLAN_ID]
    assert postpaid.payment_type == types_pb2.POSTPAID
    assert postpaid.monthly_fee == types_pb2.Money(amount_minor=2000, currency="EUR")
    assert postpaid.peak_hours == "Mon-Fri 08:00-20:00"
    voice = next(t for t in postpaid.tariffs if t.service == "VOICE")
    assert (voice.unit_price.amount_minor, voice.price_unit, voice.minimum_quantity) == (9, 60, 60)
    assert {a.service: a.quantity for a in postpaid.allowances} == {"DATA": 1 << 30, "SMS": 100}
    assert plans[PREPAID_PLAN_ID].initial_credit.amount_minor == 500
    assert {s.id: s.unit for s in ref.services} == {
        "VOICE": "SECOND",
        "SMS": "MESSAGE",
        "DATA": "BYTE",
    }
    assert [(c.id, c.cycle_day) for c in ref.bill_cycles] == [(1, 1), (2, 15)]
    assert (ref.operator_time_zone, ref.currency) == ("Europe/Madrid", "EUR")
    assert refdata.get_ref_data(deps).catalog.price_plans.keys() == plans.keys()


def test_available_resources_are_free_ones_in_value_order_with_prefix_and_paging(
    client: Client, inventory: Inventory, deps: Deps
) -> None:
    add_resources(
        deps,
        "MSISDN",
        ["34611111111"],
        status="QUARANTINE",
        available_at=utcnow() - timedelta(days=1),
    )
    add_resources(
        deps,
        "MSISDN",
        ["34622222222"],
        status="QUARANTINE",
        available_at=utcnow() + timedelta(days=1),
    )
    add_resources(deps, "MSISDN", ["34633333333"], status="ASSIGNED")
    get = client.stub.GetAvailableResources

    first = get(
        engine_pb2.GetAvailableResourcesRequest(
            type=types_pb2.MSISDN, page=types_pb2.PageRequest(page_size=4)
        )
    )
    rest = get(
        engine_pb2.GetAvailableResourcesRequest(
            type=types_pb2.MSISDN,
            page=types_pb2.PageRequest(page_size=4, page_token=first.page.next_page_token),
        )
    )
    typed_ahead = get(
        engine_pb2.GetAvailableResourcesRequest(type=types_pb2.MSISDN, prefix="+346111")
    )
    handsets = get(engine_pb2.GetAvailableResourcesRequest(type=types_pb2.HANDSET))

    values = [r.value for r in [*first.resources, *rest.resources]]
    assert values == [*inventory.msisdns, "34611111111"]
    assert first.page.total_count == 6 and rest.page.next_page_token == ""
    assert [r.value for r in typed_ahead.resources] == ["34611111111"]
    assert handsets.resources[0].model == "Phone X"
    assert handsets.resources[0].type == types_pb2.HANDSET


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({}, "type: resource type is required"),
        ({"type": 9}, "type: 9 is not a known value"),
        ({"type": types_pb2.MSISDN, "prefix": "34a"}, "prefix: must be up to 20 digits"),
        (
            {"type": types_pb2.MSISDN, "page": types_pb2.PageRequest(page_size=-1)},
            "page.page_size: must not be negative",
        ),
    ],
)
def test_bad_resource_queries_are_invalid(
    client: Client, catalog: object, fields: dict[str, object], words: str
) -> None:
    error = rpc_error(
        lambda: client.stub.GetAvailableResources(engine_pb2.GetAvailableResourcesRequest(**fields))
    )
    assert error.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert words in error.details()


def test_an_oversized_request_is_rejected(
    start_server: Callable[..., Client], catalog: object
) -> None:
    client = start_server()
    huge = "X" * (5 * 1024 * 1024)  # over the default 4 MiB limit

    error = rpc_error(
        lambda: client.stub.SearchSubscribers(engine_pb2.SearchSubscribersRequest(name=huge))
    )

    assert error.code() == grpc.StatusCode.RESOURCE_EXHAUSTED


@pytest.mark.parametrize("method", ["GetRefData", "GetSubscriber"])
def test_a_handler_that_aborts_the_call_ends_it_with_its_status_message_and_request_id(
    method: str,
    start_server: Callable[..., Client],
    catalog: object,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """A plain-function handler calling context.abort ends the call there, as on grpc's
    thread-pool server (GetSubscriber runs on the event loop on SQLite, GetRefData in a
    worker): its status and message reach the caller, with the request id, and the log."""
    ran_on = []

    def aborting(self: object, request: object, context: grpc.ServicerContext) -> object:
        context.abort(grpc.StatusCode.PERMISSION_DENIED, "this CSR may not see that")
        ran_on.append("after abort")  # never reached: abort raises
        return None

    monkeypatch.setattr(EngineServicer, method, aborting)
    client = start_server()
    caplog.set_level(logging.INFO, logger="microbss.engine.api")
    request = {
        "GetRefData": engine_pb2.GetRefDataRequest(),
        "GetSubscriber": engine_pb2.GetSubscriberRequest(subscriber_id=1),
    }[method]

    error = rpc_error(lambda: getattr(client.stub, method)(request, timeout=10))

    assert error.code() == grpc.StatusCode.PERMISSION_DENIED
    assert error.details() == "this CSR may not see that"
    request_id = dict(error.trailing_metadata() or ())["x-request-id"]
    assert ran_on == []
    lines = [r.getMessage() for r in caplog.records if request_id in r.getMessage()]
    assert any(f"/{method} PERMISSION_DENIED " in line for line in lines)


def slow_ref_data(monkeypatch: pytest.MonkeyPatch, seconds: float) -> threading.Event:
    """GetRefData takes ``seconds`` in its worker; the event is set when the handler returns."""
    returned = threading.Event()

    def slow(deps: Deps) -> object:
        time.sleep(seconds)
        try:
            return refdata.get_ref_data(deps)
        finally:
            returned.set()

    monkeypatch.setattr("microbss.engine.api.servicers.refdata.get_ref_data", slow)
    return returned


def test_stop_lets_a_call_in_flight_finish_within_the_grace_period(
    deps: Deps, catalog: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    returned = slow_ref_data(monkeypatch, 0.5)
    server, port = create_server("127.0.0.1:0", deps)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        pending = engine_pb2_grpc.EngineStub(channel).GetRefData.future(
            engine_pb2.GetRefDataRequest(), timeout=10
        )
        time.sleep(0.1)  # in its worker now

        assert server.stop(grace=5).wait(10)

        assert returned.is_set()
        assert len(pending.result().price_plans) == 2


def test_stop_returns_once_the_handlers_of_calls_it_cut_off_have_returned(
    deps: Deps, catalog: object, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As grpc.Server.stop promises: when the event is set, no handler is still running (so
    the caller may close the database under it)."""
    returned = slow_ref_data(monkeypatch, 0.5)
    server, port = create_server("127.0.0.1:0", deps)
    server.start()
    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        pending = engine_pb2_grpc.EngineStub(channel).GetRefData.future(
            engine_pb2.GetRefDataRequest(), timeout=10
        )
        time.sleep(0.1)

        assert server.stop(grace=None).wait(10)

        assert returned.is_set()
        assert rpc_error(pending.result).code() == grpc.StatusCode.UNAVAILABLE


def test_two_servers_in_one_process_stop_independently(deps: Deps, catalog: object) -> None:
    """Tests (and tools) run several servers in one process, on one event loop."""
    first, first_port = create_server("127.0.0.1:0", deps)
    second, second_port = create_server("127.0.0.1:0", deps)
    first.start()
    second.start()
    try:
        assert first.stop(grace=1).wait(10)
        with grpc.insecure_channel(f"127.0.0.1:{second_port}") as channel:
            reply = engine_pb2_grpc.EngineStub(channel).GetRefData(
                engine_pb2.GetRefDataRequest(), timeout=10
            )
            health = health_pb2_grpc.HealthStub(channel).Check(
                health_pb2.HealthCheckRequest(), timeout=10
            )
        with grpc.insecure_channel(f"127.0.0.1:{first_port}") as channel:
            refused = rpc_error(
                lambda: engine_pb2_grpc.EngineStub(channel).GetRefData(
                    engine_pb2.GetRefDataRequest(), timeout=2
                )
            )
    finally:
        second.stop(grace=None).wait(10)

    assert len(reply.price_plans) == 2
    assert health.status == health_pb2.HealthCheckResponse.SERVING
    assert refused.code() in (grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED)


def test_engine_serve_drains_a_stream_in_flight_on_sigterm_and_exits_cleanly(
    tmp_path: Path,
) -> None:
    """`microbss engine serve` as an operator runs it: on SIGTERM a stream being read goes on
    to its end, and then the process exits 0 with "engine stopped" in its log."""
    env = {
        **os.environ,
        "MICROBSS_DATA_DIR": str(tmp_path),
        "MICROBSS_SECRET": "serve-test",
        "MICROBSS_TIME_ZONE": "Europe/Madrid",
        "MICROBSS_ENGINE_DB_URL": "",
    }
    deps = Deps(settings=load_settings(env), db=make_engine(load_settings(env).database_url))
    upgrade_to_head(deps.db)
    seed_catalog(deps)
    ana = add_subscriber(deps, "34600100200")
    now = utcnow().replace(microsecond=0)
    with deps.db.begin() as conn:
        conn.execute(
            insert(rated_cdrs),
            [
                {
                    "cdr_id": f"S{n:05d}",
                    "subscriber_id": ana,
                    "service_id": "SMS",
                    "started_at": now - timedelta(seconds=n),
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
                    "rated_at": now,
                }
                for n in range(500)
            ],
        )
    deps.db.dispose()
    engine = subprocess.Popen(
        [sys.executable, "-m", "microbss", "engine", "serve", "--listen", "127.0.0.1:0"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert engine.stdout is not None
        lines = []
        for line in engine.stdout:
            lines.append(line)
            if "engine listening on" in line:
                break
        port = int(lines[-1].split("engine listening on ")[1].split()[0].rsplit(":", 1)[1])
        with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
            call = engine_pb2_grpc.EngineStub(channel).GetSubscriberUsage(
                engine_pb2.GetSubscriberUsageRequest(subscriber_id=ana, rows_per_message=10),
                timeout=30,
            )
            first = next(call)
            engine.send_signal(signal.SIGTERM)
            time.sleep(0.3)  # the engine is draining
            rest = list(call)
        output, _ = engine.communicate(timeout=30)
    finally:
        if engine.poll() is None:
            engine.kill()
            engine.wait()

    assert len(first.cdrs) + sum(len(chunk.cdrs) for chunk in rest) == 500
    assert engine.returncode == 0
    assert "received SIGTERM: draining in-flight calls" in output
    assert "GetSubscriberUsage OK" in output
    assert output.rstrip().endswith("engine stopped")
