"""A fake charging engine for the CRM's tests: a real gRPC server on port 0 with in-memory data.

It implements every RPC of ``microbss.v1.Engine`` with realistic data (a prepaid and a postpaid
subscriber, free inventory, a price catalog, vouchers in two batches, three months of usage,
bills with PDFs), records each call with its metadata, and can be told to fail a method with a
given status or to hang until the caller's deadline has passed.

Fixtures (import them into a test module): ``fake_engine`` starts it and points the CRM at it;
``stopped_engine`` points the CRM at an address where nothing listens.
"""

from __future__ import annotations

import itertools
import threading
from collections.abc import Iterator
from concurrent import futures
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

import grpc
import pytest
from google.protobuf.timestamp_pb2 import Timestamp

from microbss.crm import engine_client
from microbss.engine.domain.identifiers import luhn_check_digit
from microbss.v1 import engine_pb2, engine_pb2_grpc, types_pb2

NOW = datetime(2026, 5, 20, 10, 0, tzinfo=UTC)
PREPAID_ID = 1
POSTPAID_ID = 2
PREPAID_PLAN_ID = 10
POSTPAID_PLAN_ID = 20
BILL_CYCLE_ID = 1
VALID_PIN = "ABCD1234EFGH5678"
USED_PIN = "USED0000USED0000"


def _ts(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def _eur(minor: int) -> types_pb2.Money:
    return types_pb2.Money(amount_minor=minor, currency="EUR")


def _imei(body: str) -> str:
    return body + str(luhn_check_digit(body))


def minimal_pdf(title: str) -> bytes:
    """A small but well-formed PDF, larger than one chunk so streaming is exercised."""
    body = f"%PDF-1.4\n% {title}\n" + ("0" * 70 + "\n") * 2000
    return (body + "%%EOF\n").encode()


@dataclass
class RecordedCall:
    method: str
    request: Any
    metadata: dict[str, str]


class FakeEngine(engine_pb2_grpc.EngineServicer):
    """In-memory engine; ``calls`` lists what was asked, ``fail``/``hang`` steer misbehaviour."""

    def __init__(self) -> None:
        self.calls: list[RecordedCall] = []
        self.fail: dict[str, tuple[grpc.StatusCode, str]] = {}
        self.hang: set[str] = set()
        self.token = ""
        self._lock = threading.Lock()
        self._release = threading.Event()
        self._ids = itertools.count(3)
        self._bill_ids = itertools.count(1000)
        self.msisdns = [f"3460000{n:04d}" for n in range(1, 41)]
        self.imsis = [f"21401{n:010d}" for n in range(1, 41)]
        self.handsets = [(_imei(f"35{n:012d}"), f"Phone {n % 3 + 1}") for n in range(1, 11)]
        self.vouchers = self._make_vouchers()
        self.pins = {VALID_PIN: "V000001", USED_PIN: "V000002"}
        self.subscribers: dict[int, types_pb2.Subscriber] = {}
        self.bills: dict[int, list[types_pb2.Bill]] = {}
        self.usage: dict[int, list[types_pb2.RatedCdr]] = {}
        self._seed_subscribers()

    # ---- steering -------------------------------------------------------------------------

    def release_hung_calls(self) -> None:
        self._release.set()

    def calls_to(self, method: str) -> list[RecordedCall]:
        return [call for call in self.calls if call.method == method]

    def _enter(self, method: str, request: Any, context: grpc.ServicerContext) -> None:
        metadata = {key: value for key, value in context.invocation_metadata()}
        with self._lock:
            self.calls.append(RecordedCall(method, request, metadata))
        if self.token and metadata.get("authorization") != f"Bearer {self.token}":
            context.abort(grpc.StatusCode.UNAUTHENTICATED, "missing or wrong bearer token")
        if method in self.hang:
            # Answer only after the caller has given up: its deadline is what is under test.
            remaining = context.time_remaining() or 0
            self._release.wait(timeout=remaining + 1)
        if method in self.fail:
            code, details = self.fail[method]
            context.abort(code, details)

    # ---- data -----------------------------------------------------------------------------

    def _make_vouchers(self) -> list[types_pb2.Voucher]:
        vouchers = []
        for n in range(1, 31):
            state = types_pb2.NEW
            if n == 2:
                state = types_pb2.USED
            elif n > 25:
                state = types_pb2.ERROR
            vouchers.append(
                types_pb2.Voucher(
                    serial=f"V{n:06d}",
                    batch="B2026-01" if n <= 15 else "B2026-02",
                    value=_eur(1000 if n <= 15 else 2000),
                    state=state,
                    created_at=_ts(NOW - timedelta(days=30)),
                    state_changed_at=_ts(NOW - timedelta(days=30)),
                )
            )
        return vouchers

    def _seed_subscribers(self) -> None:
        prepaid = types_pb2.Subscriber(
            id=PREPAID_ID,
            status=types_pb2.ACTIVE,
            payment_type=types_pb2.PREPAID,
            msisdn="34699000001",
            imsi="214019900000001",
            identity_number_masked="****678Z",
            first_name="Ana",
            last_name="García",
            date_of_birth=types_pb2.Date(year=1985, month=3, day=14),
            address=types_pb2.Address(
                street="Calle Mayor 5", city="Madrid", postal_code="28013", country="ES"
            ),
            email="ana@example.com",
            contact_phone="34911000001",
            payment=types_pb2.PaymentData(method=types_pb2.CASH),
            price_plan_id=PREPAID_PLAN_ID,
            balance=_eur(1250),
            allowances=[
                types_pb2.AllowanceBalance(
                    service="DATA", unit="BYTE", granted=1 << 30, used=1 << 28
                )
            ],
            activated_at=_ts(NOW - timedelta(days=200)),
            unbilled=_eur(0),
        )
        postpaid = types_pb2.Subscriber(
            id=POSTPAID_ID,
            status=types_pb2.ACTIVE,
            payment_type=types_pb2.POSTPAID,
            msisdn="34699000002",
            imsi="214019900000002",
            identity_number_masked="****321B",
            first_name="Bruno",
            last_name="Díaz",
            date_of_birth=types_pb2.Date(year=1979, month=11, day=2),
            address=types_pb2.Address(
                street="Gran Vía 1", city="Madrid", postal_code="28013", country="ES"
            ),
            email="bruno@example.com",
            payment=types_pb2.PaymentData(
                method=types_pb2.DIRECT_DEBIT,
                iban="ES** **** **** **** **** 1332",
                account_holder="Bruno Díaz",
            ),
            price_plan_id=POSTPAID_PLAN_ID,
            bill_cycle_id=BILL_CYCLE_ID,
            balance=_eur(0),
            activated_at=_ts(NOW - timedelta(days=400)),
            unbilled=_eur(4321),
        )
        self.subscribers = {PREPAID_ID: prepaid, POSTPAID_ID: postpaid}
        for sub_id in (PREPAID_ID, POSTPAID_ID):
            self.usage[sub_id] = [self._cdr(sub_id, n) for n in range(120)]
            self.bills[sub_id] = [self._bill(sub_id, months_ago) for months_ago in (1, 2, 3)]

    def _cdr(self, sub_id: int, n: int) -> types_pb2.RatedCdr:
        service = ("VOICE", "SMS", "DATA")[n % 3]
        unit = {"VOICE": "SECOND", "SMS": "MESSAGE", "DATA": "BYTE"}[service]
        quantity = {"VOICE": 61, "SMS": 1, "DATA": 2048}[service]
        return types_pb2.RatedCdr(
            cdr_id=f"CDR-{sub_id}-{n:05d}",
            service=service,
            started_at=_ts(NOW - timedelta(hours=n * 12)),
            quantity=quantity,
            unit=unit,
            other_party="34911222333",
            zone="NATIONAL",
            band="PEAK" if n % 2 else "OFFPEAK",
            billable_quantity=quantity,
            charge=_eur(100 + n),
        )

    def _bill(self, sub_id: int, months_ago: int, kind: int = types_pb2.MONTHLY) -> types_pb2.Bill:
        bill_id = next(self._bill_ids)
        end = NOW - timedelta(days=30 * (months_ago - 1))
        return types_pb2.Bill(
            id=bill_id,
            invoice_number=f"INV-2026-{bill_id:06d}",
            subscriber_id=sub_id,
            period_start=_ts(end - timedelta(days=30)),
            period_end=_ts(end),
            issued_at=_ts(end),
            net_total=_eur(2000 + bill_id),
            status=types_pb2.ISSUED,
            kind=kind,
            lines=[
                types_pb2.BillLine(
                    kind="FEE", description="Monthly fee", quantity=1, amount=_eur(2000)
                )
            ],
        )

    def _subscriber_or_abort(self, sub_id: int, context: grpc.ServicerContext) -> Any:
        subscriber = self.subscribers.get(sub_id)
        if subscriber is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"subscriber_id: no subscriber {sub_id}")
        return subscriber

    # ---- RPCs -----------------------------------------------------------------------------

    def GetAvailableResources(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetAvailableResources", request, context)
        if request.type == types_pb2.MSISDN:
            values = [(v, "") for v in self.msisdns]
        elif request.type == types_pb2.IMSI:
            values = [(v, "") for v in self.imsis]
        elif request.type == types_pb2.HANDSET:
            values = list(self.handsets)
        else:
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "type: is required")
        matching = [(v, m) for v, m in values if v.startswith(request.prefix)]
        size = request.page.page_size or 50
        return engine_pb2.GetAvailableResourcesResponse(
            resources=[
                types_pb2.Resource(type=request.type, value=v, model=m) for v, m in matching[:size]
            ],
            page=types_pb2.PageInfo(total_count=len(matching)),
        )

    def CreateSubscriber(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("CreateSubscriber", request, context)
        if request.msisdn not in self.msisdns:
            context.abort(
                grpc.StatusCode.ALREADY_EXISTS,
                f"msisdn: {request.msisdn} is already assigned to another subscriber",
            )
        if request.imsi not in self.imsis:
            context.abort(grpc.StatusCode.ALREADY_EXISTS, f"imsi: {request.imsi} is not free")
        self.msisdns.remove(request.msisdn)
        self.imsis.remove(request.imsi)
        new_id = next(self._ids)
        payment = types_pb2.PaymentData()
        payment.CopyFrom(request.payment)
        if payment.iban:
            payment.iban = f"{payment.iban[:2]}** **** {payment.iban[-4:]}"
        subscriber = types_pb2.Subscriber(
            id=new_id,
            status=types_pb2.ACTIVE,
            payment_type=request.payment_type,
            msisdn=request.msisdn,
            imsi=request.imsi,
            handset_imei=request.handset_imei,
            identity_number_masked="****" + request.identity_number[-4:],
            first_name=request.first_name,
            last_name=request.last_name,
            date_of_birth=request.date_of_birth,
            address=request.address,
            email=request.email,
            contact_phone=request.contact_phone,
            payment=payment,
            price_plan_id=request.price_plan_id,
            bill_cycle_id=request.bill_cycle_id,
            balance=_eur(500 if request.payment_type == types_pb2.PREPAID else 0),
            activated_at=_ts(NOW),
            unbilled=_eur(0),
        )
        self.subscribers[new_id] = subscriber
        self.bills[new_id] = []
        self.usage[new_id] = []
        return subscriber

    def GetSubscriber(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetSubscriber", request, context)
        return self._subscriber_or_abort(request.subscriber_id, context)

    def SearchSubscribers(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("SearchSubscribers", request, context)
        found = [
            s
            for s in self.subscribers.values()
            if s.msisdn.startswith(request.msisdn)
            and s.imsi.startswith(request.imsi)
            and request.name.lower() in f"{s.first_name} {s.last_name}".lower()
            and s.identity_number_masked.endswith(request.identity_last_digits)
            and (request.include_terminated or s.status == types_pb2.ACTIVE)
        ]
        size = request.page.page_size or 50
        start = int(request.page.page_token or 0)
        page = found[start : start + size]
        next_token = str(start + size) if start + size < len(found) else ""
        return engine_pb2.SearchSubscribersResponse(
            subscribers=page,
            page=types_pb2.PageInfo(next_page_token=next_token, total_count=len(found)),
        )

    def GetRefData(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("GetRefData", request, context)
        return ref_data()

    def _filtered_vouchers(self, request: Any) -> list[types_pb2.Voucher]:
        return [
            v
            for v in self.vouchers
            if (not request.state or v.state == request.state)
            and (not request.batch or v.batch == request.batch)
            and v.serial.startswith(request.serial)
        ]

    def SelectVouchers(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("SelectVouchers", request, context)
        found = self._filtered_vouchers(request)
        size = request.page.page_size or 50
        start = int(request.page.page_token or 0)
        next_token = str(start + size) if start + size < len(found) else ""
        return engine_pb2.SelectVouchersResponse(
            vouchers=found[start : start + size],
            page=types_pb2.PageInfo(next_page_token=next_token, total_count=len(found)),
        )

    def UpdateVoucherState(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("UpdateVoucherState", request, context)
        if not request.reason.strip():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "reason: is required")
        targets = [
            v
            for v in self.vouchers
            if (request.HasField("serial") and v.serial == request.serial)
            or (request.HasField("batch") and v.batch == request.batch)
        ]
        if not targets:
            context.abort(grpc.StatusCode.NOT_FOUND, "no voucher matches")
        if request.HasField("serial") and targets[0].state == types_pb2.USED:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION,
                f"voucher {request.serial} is USED; a used voucher cannot change state",
            )
        changed = [v for v in targets if v.state not in (types_pb2.USED, request.new_state)]
        for voucher in changed:
            voucher.state = request.new_state
            voucher.state_reason = request.reason
        return engine_pb2.UpdateVoucherStateResponse(updated_count=len(changed), vouchers=targets)

    def RedeemVoucher(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("RedeemVoucher", request, context)
        subscriber = self._subscriber_or_abort(request.subscriber_id, context)
        pin = request.pin.replace("-", "").replace(" ", "").upper()
        if len(pin) != 16:
            context.abort(
                grpc.StatusCode.INVALID_ARGUMENT,
                f"pin: a voucher PIN has 16 letters A-Z and digits 0-9 (got {len(pin)} characters)",
            )
        if pin == USED_PIN:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "pin: this voucher was already used")
        if pin != VALID_PIN:
            context.abort(grpc.StatusCode.NOT_FOUND, "pin: no voucher has this PIN")
        subscriber.balance.amount_minor += 1000
        return engine_pb2.RedeemVoucherResponse(
            voucher_serial=self.pins[pin],
            credited=_eur(1000),
            balance=subscriber.balance,
            redeemed_at=_ts(NOW),
        )

    def GetSubscriberUsage(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self._enter("GetSubscriberUsage", request, context)
        self._subscriber_or_abort(request.subscriber_id, context)
        rows = self.usage.get(request.subscriber_id, [])
        size = request.rows_per_message or 1000
        for start in range(0, len(rows), size):
            yield engine_pb2.UsageChunk(cdrs=rows[start : start + size])

    def GetSubscriberBills(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self._enter("GetSubscriberBills", request, context)
        self._subscriber_or_abort(request.subscriber_id, context)
        yield from self.bills.get(request.subscriber_id, [])

    def ExecuteBilling(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("ExecuteBilling", request, context)
        subscriber = self._subscriber_or_abort(request.subscriber_id, context)
        if subscriber.payment_type != types_pb2.POSTPAID:
            context.abort(
                grpc.StatusCode.FAILED_PRECONDITION, "on-demand billing is for postpaid lines"
            )
        bill = self._bill(subscriber.id, 0, kind=types_pb2.ON_DEMAND)
        self.bills[subscriber.id].insert(0, bill)
        subscriber.unbilled.amount_minor = 0
        return engine_pb2.ExecuteBillingResponse(
            ack=types_pb2.ACK_OK,
            bill_id=bill.id,
            invoice_number=bill.invoice_number,
            net_total=bill.net_total,
        )

    def _find_bill(self, bill_id: int) -> types_pb2.Bill | None:
        return next((b for bills in self.bills.values() for b in bills if b.id == bill_id), None)

    def GetInvoice(self, request: Any, context: grpc.ServicerContext) -> Iterator[Any]:
        self._enter("GetInvoice", request, context)
        bill = self._find_bill(request.bill_id)
        if bill is None:
            context.abort(grpc.StatusCode.NOT_FOUND, f"bill_id: no bill {request.bill_id}")
        pdf = minimal_pdf(bill.invoice_number)
        chunk = 32 * 1024
        for start in range(0, len(pdf), chunk):
            first = start == 0
            yield engine_pb2.InvoiceChunk(
                data=pdf[start : start + chunk],
                file_name=f"{bill.invoice_number}.pdf" if first else "",
                content_type="application/pdf" if first else "",
                total_size=len(pdf) if first else 0,
            )

    def TerminateSubscriber(self, request: Any, context: grpc.ServicerContext) -> Any:
        self._enter("TerminateSubscriber", request, context)
        subscriber = self._subscriber_or_abort(request.subscriber_id, context)
        if not request.reason.strip():
            context.abort(grpc.StatusCode.INVALID_ARGUMENT, "reason: is required")
        if subscriber.status == types_pb2.TERMINATED:
            context.abort(grpc.StatusCode.FAILED_PRECONDITION, "the line is already terminated")
        subscriber.status = types_pb2.TERMINATED
        subscriber.terminated_at.CopyFrom(_ts(NOW))
        reply = engine_pb2.TerminateSubscriberResponse(
            subscriber=subscriber, msisdn_available_at=_ts(NOW + timedelta(days=90))
        )
        if subscriber.payment_type == types_pb2.POSTPAID:
            bill = self._bill(subscriber.id, 0, kind=types_pb2.FINAL)
            self.bills[subscriber.id].insert(0, bill)
            reply.final_bill.CopyFrom(bill)
        return reply


def ref_data() -> engine_pb2.RefData:
    per_minute = types_pb2.Tariff(
        service="VOICE",
        zone="NATIONAL",
        band="ANY",
        strategy="PER_UNIT",
        unit_price=_eur(9),
        price_unit=60,
        increment=1,
        minimum_quantity=60,
        minimum_charge=_eur(0),
    )
    per_sms = types_pb2.Tariff(
        service="SMS",
        zone="NATIONAL",
        band="ANY",
        strategy="PER_EVENT",
        unit_price=_eur(5),
        price_unit=1,
        increment=1,
    )
    per_mb = types_pb2.Tariff(
        service="DATA",
        zone="NATIONAL",
        band="ANY",
        strategy="PER_UNIT",
        unit_price=_eur(2),
        price_unit=1048576,
        increment=1024,
    )
    return engine_pb2.RefData(
        price_plans=[
            types_pb2.PricePlan(
                id=PREPAID_PLAN_ID,
                code="PRE-BASIC",
                name="Prepaid Basic",
                payment_type=types_pb2.PREPAID,
                currency="EUR",
                monthly_fee=_eur(0),
                initial_credit=_eur(500),
                tariffs=[per_minute, per_sms, per_mb],
                allowances=[
                    types_pb2.Allowance(service="DATA", quantity=1 << 30, zones=["NATIONAL"])
                ],
                description="Pay as you go",
            ),
            types_pb2.PricePlan(
                id=POSTPAID_PLAN_ID,
                code="POST-PLUS",
                name="Postpaid Plus",
                payment_type=types_pb2.POSTPAID,
                currency="EUR",
                monthly_fee=_eur(1999),
                peak_hours="Mon-Fri 08:00-20:00",
                tariffs=[per_minute, per_sms, per_mb],
                allowances=[
                    types_pb2.Allowance(service="VOICE", quantity=6000, zones=["NATIONAL"])
                ],
                description="Monthly contract",
            ),
        ],
        services=[
            types_pb2.Service(id="VOICE", name="Voice calls", unit="SECOND"),
            types_pb2.Service(id="SMS", name="Text messages", unit="MESSAGE"),
            types_pb2.Service(id="DATA", name="Mobile data", unit="BYTE"),
        ],
        bill_cycles=[
            types_pb2.BillCycle(id=BILL_CYCLE_ID, name="Cycle 1", cycle_day=1),
            types_pb2.BillCycle(id=2, name="Cycle 15", cycle_day=15),
        ],
        operator_name="microbss Mobile",
        operator_time_zone="Europe/Madrid",
        currency="EUR",
    )


@dataclass
class RunningEngine:
    engine: FakeEngine
    server: grpc.Server
    address: str


def start_fake_engine() -> RunningEngine:
    engine = FakeEngine()
    server = grpc.server(futures.ThreadPoolExecutor(max_workers=8))
    engine_pb2_grpc.add_EngineServicer_to_server(engine, server)
    port = server.add_insecure_port("127.0.0.1:0")
    server.start()
    return RunningEngine(engine, server, f"127.0.0.1:{port}")


def _point_crm_at(settings: Any, address: str) -> None:
    settings.MICROBSS_ENGINE_ADDRESS = address
    settings.MICROBSS_ENGINE_TOKEN = ""
    settings.MICROBSS_ENGINE_TIMEOUT_SECONDS = 2
    engine_client.close_channel()


@pytest.fixture(name="running_engine")
def running_engine_fixture(settings: Any) -> Iterator[RunningEngine]:
    """The fake engine, started, with the CRM's settings pointing at it."""
    running = start_fake_engine()
    _point_crm_at(settings, running.address)
    yield running
    running.engine.release_hung_calls()
    running.server.stop(grace=None)
    engine_client.close_channel()


@pytest.fixture(name="fake_engine")
def fake_engine_fixture(running_engine: RunningEngine) -> FakeEngine:
    return running_engine.engine


@pytest.fixture(name="stopped_engine")
def stopped_engine_fixture(settings: Any) -> Iterator[str]:
    """An engine that was started and then stopped: its port no longer answers."""
    running = start_fake_engine()
    running.server.stop(grace=None).wait()
    _point_crm_at(settings, running.address)
    yield running.address
    engine_client.close_channel()
