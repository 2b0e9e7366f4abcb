"""API test fixtures: a real engine server on an ephemeral port over the ``deps`` database (so
every API test runs on SQLite, and again on PostgreSQL when configured), a client stub, and
helpers to seed a small catalog, an inventory and vouchers."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, replace
from datetime import date, datetime, time
from typing import Any

import grpc
import pytest
from sqlalchemy import insert, select

from microbss.engine.api.server import create_server
from microbss.engine.deps import Deps
from microbss.engine.domain.catalog import (
    Allowance,
    Band,
    BillCycle,
    Catalog,
    PaymentType,
    PeakHours,
    PricePlan,
    RatingStrategy,
    Service,
    ServiceUnit,
    Tariff,
    Zone,
)
from microbss.engine.domain.identifiers import luhn_check_digit
from microbss.engine.domain.periods import utcnow
from microbss.engine.domain.voucher import VoucherState, hash_pin
from microbss.engine.storage.catalog_repository import replace_catalog
from microbss.engine.storage.tables import metadata, resources, vouchers
from microbss.engine.storage.uow import UnitOfWork
from microbss.v1 import engine_pb2, engine_pb2_grpc, types_pb2

PREPAID_PLAN_ID = 101
POSTPAID_PLAN_ID = 201
BILL_CYCLE_ID = 1
PREPAID_INITIAL_CREDIT = 500


def test_catalog() -> Catalog:
    """Two plans (one prepaid, one postpaid), three services, two bill cycles."""
    voice = Tariff(
        "VOICE",
        Zone.NATIONAL,
        Band.ANY,
        RatingStrategy.PER_UNIT,
        unit_price=9,
        price_unit=60,
        increment=1,
        minimum_quantity=60,
    )
    sms = Tariff("SMS", Zone.NATIONAL, Band.ANY, RatingStrategy.PER_EVENT, unit_price=10)
    data = Tariff(
        "DATA",
        Zone.NATIONAL,
        Band.ANY,
        RatingStrategy.PER_UNIT,
        unit_price=100,
        price_unit=1_048_576,
        increment=1024,
    )
    return Catalog(
        services={
            "VOICE": Service("VOICE", "Voice calls", ServiceUnit.SECOND),
            "SMS": Service("SMS", "Text messages", ServiceUnit.MESSAGE),
            "DATA": Service("DATA", "Mobile data", ServiceUnit.BYTE),
        },
        bill_cycles={1: BillCycle(1, "Day 1", 1), 2: BillCycle(2, "Day 15", 15)},
        price_plans={
            PREPAID_PLAN_ID: PricePlan(
                id=PREPAID_PLAN_ID,
                code="PRE_TEST",
                name="Prepaid test",
                currency="EUR",
                payment_type=PaymentType.PREPAID,
                monthly_fee=0,
                initial_credit=PREPAID_INITIAL_CREDIT,
                tariffs=(voice, sms, data),
                allowances=(Allowance("VOICE", 600),),
            ),
            POSTPAID_PLAN_ID: PricePlan(
                id=POSTPAID_PLAN_ID,
                code="POST_TEST",
                name="Postpaid test",
                currency="EUR",
                payment_type=PaymentType.POSTPAID,
                monthly_fee=2000,
                peak_hours=PeakHours(frozenset(range(5)), time(8), time(20)),
                tariffs=(voice, sms, data),
                allowances=(Allowance("DATA", 1 << 30), Allowance("SMS", 100)),
            ),
        },
    )


def valid_imei(body: str) -> str:
    return body + str(luhn_check_digit(body))


@dataclass
class Inventory:
    msisdns: list[str]
    imsis: list[str]
    imeis: list[str]


@pytest.fixture
def catalog(deps: Deps) -> Catalog:
    catalog = test_catalog()
    with UnitOfWork(deps.db, write=True) as uow:
        replace_catalog(uow.conn, catalog)
        uow.commit()
    return catalog


def add_resources(deps: Deps, type_: str, values: list[str], **extra: Any) -> None:
    with UnitOfWork(deps.db, write=True) as uow:
        uow.conn.execute(
            insert(resources),
            [
                {
                    "type": type_,
                    "value": v,
                    "model": "Phone X" if type_ == "HANDSET" else "",
                    "created_at": utcnow(),
                    **extra,
                }
                for v in values
            ],
        )
        uow.commit()


@pytest.fixture
def inventory(deps: Deps, catalog: Catalog) -> Inventory:
    """Five free MSISDNs, IMSIs and handsets."""
    stock = Inventory(
        msisdns=[f"3460000000{i}" for i in range(5)],
        imsis=[f"21401000000000{i}" for i in range(5)],
        imeis=[valid_imei(f"3520990000000{i}") for i in range(5)],
    )
    add_resources(deps, "MSISDN", stock.msisdns)
    add_resources(deps, "IMSI", stock.imsis)
    add_resources(deps, "HANDSET", stock.imeis)
    return stock


def add_vouchers(
    deps: Deps,
    batch: str,
    pins: list[str],
    *,
    value: int = 1000,
    currency: str = "EUR",
    state: VoucherState = VoucherState.NEW,
    expires_at: datetime | None = None,
) -> list[str]:
    """Insert vouchers with these PINs; returns their serials (batch name + number)."""
    now = utcnow()
    serials = [f"{batch}-{i:04d}" for i in range(len(pins))]
    with UnitOfWork(deps.db, write=True) as uow:
        uow.conn.execute(
            insert(vouchers),
            [
                {
                    "serial": serial,
                    "batch": batch,
                    "pin_hash": hash_pin(pin, deps.settings.secret),
                    "value_minor": value,
                    "currency": currency,
                    "state": int(state),
                    "created_at": now,
                    "expires_at": expires_at,
                    "state_changed_at": now,
                }
                for serial, pin in zip(serials, pins, strict=True)
            ],
        )
        uow.commit()
    return serials


def database_snapshot(deps: Deps) -> dict[str, list[tuple[Any, ...]]]:
    """Every row of every table, to show a rejected call changed nothing."""
    with deps.db.connect() as conn:
        return {
            table.name: sorted(tuple(map(str, row)) for row in conn.execute(select(table)))
            for table in metadata.sorted_tables
        }


def prepaid_request(
    stock: Inventory, i: int = 0, **changes: Any
) -> engine_pb2.CreateSubscriberRequest:
    """A valid CreateSubscriber request for a prepaid subscriber using the i-th resources."""
    fields: dict[str, Any] = {
        "msisdn": stock.msisdns[i],
        "imsi": stock.imsis[i],
        "handset_imei": stock.imeis[i],
        "identity_number": "12345678Z",
        "first_name": "Ana",
        "last_name": "García",
        "date_of_birth": types_pb2.Date(year=1990, month=5, day=17),
        "address": types_pb2.Address(
            street="Calle Mayor 1", city="Madrid", postal_code="28013", country="ES"
        ),
        "email": "ana@example.com",
        "contact_phone": "+34600111222",
        "payment": types_pb2.PaymentData(method=types_pb2.CASH),
        "payment_type": types_pb2.PREPAID,
        "price_plan_id": PREPAID_PLAN_ID,
        "bill_cycle_id": 0,
    }
    fields.update(changes)
    return engine_pb2.CreateSubscriberRequest(**fields)


def postpaid_request(
    stock: Inventory, i: int = 0, **changes: Any
) -> engine_pb2.CreateSubscriberRequest:
    base: dict[str, Any] = {
        "payment_type": types_pb2.POSTPAID,
        "price_plan_id": POSTPAID_PLAN_ID,
        "bill_cycle_id": BILL_CYCLE_ID,
        "payment": types_pb2.PaymentData(
            method=types_pb2.DIRECT_DEBIT, iban="ES91 2100 0418 4502 0005 1332"
        ),
    }
    base.update(changes)
    return prepaid_request(stock, i, **base)


@dataclass
class Client:
    """The generated stub plus the metadata a CSR's calls carry."""

    stub: engine_pb2_grpc.EngineStub
    channel: grpc.Channel
    port: int
    token: str = ""

    def md(self, actor: str = "csr.ana", token: str | None = None) -> list[tuple[str, str]]:
        metadata = [("x-actor", actor)]
        bearer = self.token if token is None else token
        if bearer:
            metadata.append(("authorization", f"Bearer {bearer}"))
        return metadata


@pytest.fixture
def start_server(deps: Deps) -> Iterator[Callable[..., Client]]:
    """Start a real engine server on 127.0.0.1:0 over ``deps``; returns a connected Client."""
    started: list[tuple[grpc.Server, grpc.Channel]] = []

    def start(token: str = "") -> Client:
        served = Deps(settings=replace(deps.settings, token=token), db=deps.db, clock=deps.clock)
        server, port = create_server("127.0.0.1:0", served)
        server.start()
        channel = grpc.insecure_channel(f"127.0.0.1:{port}")
        grpc.channel_ready_future(channel).result(timeout=10)
        started.append((server, channel))
        return Client(
            stub=engine_pb2_grpc.EngineStub(channel), channel=channel, port=port, token=token
        )

    yield start
    for server, channel in started:
        channel.close()
        server.stop(grace=None).wait()


@pytest.fixture
def client(start_server: Callable[..., Client]) -> Client:
    return start_server()


def rpc_error(call: Callable[[], Any]) -> grpc.RpcError:
    """Run ``call`` expecting it to fail; return the error for status assertions."""
    with pytest.raises(grpc.RpcError) as info:
        call()
    return info.value  # type: ignore[return-value]


def birthday_years_ago(years: int) -> types_pb2.Date:
    today = date.today()
    return types_pb2.Date(year=today.year - years, month=today.month, day=min(today.day, 28))
