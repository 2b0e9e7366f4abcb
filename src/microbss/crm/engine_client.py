"""The CRM's one way to the charging engine: typed gRPC calls returning plain dataclasses.

Every other CRM module calls the functions here and never sees protobuf or grpc. This module:

- keeps one process-wide channel, made on first use (insecure, or TLS when
  ``MICROBSS_ENGINE_TLS_CA`` names a CA file) and made again when the settings change (tests);
- gives every call a deadline (``MICROBSS_ENGINE_TIMEOUT_SECONDS``, default 5; billing, termination
  and invoice downloads get ``MICROBSS_ENGINE_LONG_TIMEOUT_SECONDS``, default 60);
- sends ``authorization: Bearer <MICROBSS_ENGINE_TOKEN>`` when a token is set and
  ``x-actor: <username>`` of the CSR on whose behalf the call is made;
- translates gRPC errors in one place (:func:`_translate`): an engine that is down or too slow
  becomes :class:`EngineUnavailable`, a refusal the CSR can act on becomes :class:`EngineRejected`
  (with the form field the engine named), a refused token becomes :class:`EngineMisconfigured`
  and anything else :class:`EngineFailed`.

Settings are read from Django settings first and the environment second, so ``make run`` (which
shares one environment between engine and CRM) needs no extra configuration: the engine address
defaults to ``MICROBSS_ENGINE_LISTEN``.
"""

from __future__ import annotations

import os
import re
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Generic, TypeVar
from urllib.parse import quote

import grpc
from django.conf import settings as django_settings
from google.protobuf.timestamp_pb2 import Timestamp

from microbss.v1 import engine_pb2, engine_pb2_grpc, types_pb2

T = TypeVar("T")

DEFAULT_ADDRESS = "127.0.0.1:50051"
DEFAULT_TIMEOUT_S = 5.0
DEFAULT_LONG_TIMEOUT_S = 60.0
REF_DATA_TTL_S = 60.0
# Invoices and usage pages are streamed; a generous cap keeps one bad reply from eating memory.
MAX_RECEIVE_BYTES = 16 * 1024 * 1024


# --------------------------------------------------------------------------------------------
# Errors
# --------------------------------------------------------------------------------------------


class EngineError(Exception):
    """Base of every failure of a call to the engine."""


class EngineUnavailable(EngineError):
    """The engine did not answer in time or could not be reached (the CRM answers 503)."""


class EngineMisconfigured(EngineError):
    """The engine rejected the CRM's credentials: an operator must fix the configuration."""


class EngineFailed(EngineError):
    """The engine hit an unexpected error; its message carries only a request id."""


@dataclass(frozen=True)
class FieldError:
    field: str | None  # the engine's field name, e.g. "msisdn" or "payment.iban"; None = general
    message: str


class EngineRejected(EngineError):
    """The engine refused the request for a reason a CSR can read and act on.

    ``code`` is the gRPC status name (INVALID_ARGUMENT, NOT_FOUND, ALREADY_EXISTS,
    FAILED_PRECONDITION, RESOURCE_EXHAUSTED); ``errors`` lists each problem with its field.
    """

    def __init__(self, code: str, message: str, errors: list[FieldError]) -> None:
        super().__init__(message)
        self.code = code
        self.message = message
        self.errors = errors

    @property
    def field(self) -> str | None:
        return self.errors[0].field if self.errors else None

    @property
    def not_found(self) -> bool:
        return self.code == "NOT_FOUND"


_REJECTED_CODES = {
    grpc.StatusCode.INVALID_ARGUMENT,
    grpc.StatusCode.NOT_FOUND,
    grpc.StatusCode.ALREADY_EXISTS,
    grpc.StatusCode.FAILED_PRECONDITION,
    grpc.StatusCode.RESOURCE_EXHAUSTED,
    grpc.StatusCode.OUT_OF_RANGE,
}
_UNAVAILABLE_CODES = {grpc.StatusCode.UNAVAILABLE, grpc.StatusCode.DEADLINE_EXCEEDED}
# The engine writes "field: message" (several joined by "; "); field names are snake_case paths.
_FIELD_PREFIX = re.compile(r"^([a-z][a-z0-9_]*(?:\.[a-z][a-z0-9_]*)*): (.+)$", re.DOTALL)


def split_field_errors(details: str) -> list[FieldError]:
    """Split the engine's "msisdn: ...; imsi: ..." message into per-field errors."""
    parts = [part.strip() for part in details.split("; ")]
    matches = [_FIELD_PREFIX.match(part) for part in parts]
    if len(parts) > 1 and all(matches):
        return [FieldError(m.group(1), m.group(2)) for m in matches if m]
    single = _FIELD_PREFIX.match(details.strip())
    if single:
        return [FieldError(single.group(1), single.group(2))]
    return [FieldError(None, details.strip())]


def _translate(error: grpc.RpcError) -> EngineError:
    """The one place where gRPC status codes become CRM exceptions."""
    code = error.code() if isinstance(error, grpc.Call) else grpc.StatusCode.UNKNOWN
    details = (error.details() if isinstance(error, grpc.Call) else None) or ""
    if code in _UNAVAILABLE_CODES:
        return EngineUnavailable(f"{code.name}: {details}")
    if code in _REJECTED_CODES:
        return EngineRejected(code.name, details, split_field_errors(details))
    if code in (grpc.StatusCode.UNAUTHENTICATED, grpc.StatusCode.PERMISSION_DENIED):
        return EngineMisconfigured(f"engine rejected the CRM's token ({details})")
    return EngineFailed(f"{code.name}: {details}")


# --------------------------------------------------------------------------------------------
# Configuration and channel
# --------------------------------------------------------------------------------------------


def _setting(name: str, default: str) -> str:
    value = getattr(django_settings, name, None)
    if value is None or value == "":
        value = os.environ.get(name, "")
    return str(value) if value not in (None, "") else default


def _seconds(name: str, default: float) -> float:
    raw = _setting(name, str(default))
    try:
        value = float(raw)
    except ValueError:
        raise EngineMisconfigured(f"{name} must be a number of seconds, got {raw!r}") from None
    if value <= 0:
        raise EngineMisconfigured(f"{name} must be more than 0 seconds, got {raw!r}")
    return value


@dataclass(frozen=True)
class EngineConfig:
    address: str
    token: str
    tls_ca: str
    timeout_s: float
    long_timeout_s: float

    @classmethod
    def current(cls) -> EngineConfig:
        return cls(
            address=_setting(
                "MICROBSS_ENGINE_ADDRESS", _setting("MICROBSS_ENGINE_LISTEN", DEFAULT_ADDRESS)
            ),
            token=_setting("MICROBSS_ENGINE_TOKEN", ""),
            tls_ca=_setting("MICROBSS_ENGINE_TLS_CA", ""),
            timeout_s=_seconds("MICROBSS_ENGINE_TIMEOUT_SECONDS", DEFAULT_TIMEOUT_S),
            long_timeout_s=_seconds("MICROBSS_ENGINE_LONG_TIMEOUT_SECONDS", DEFAULT_LONG_TIMEOUT_S),
        )


_channel_lock = threading.Lock()
_channel: tuple[tuple[str, str], grpc.Channel] | None = None


def _make_channel(config: EngineConfig) -> grpc.Channel:
    options = [
        ("grpc.max_receive_message_length", MAX_RECEIVE_BYTES),
        ("grpc.primary_user_agent", "microbss-crm"),
    ]
    if not config.tls_ca:
        return grpc.insecure_channel(config.address, options=options)
    try:
        root = Path(config.tls_ca).read_bytes()
    except OSError as exc:
        raise EngineMisconfigured(
            f"MICROBSS_ENGINE_TLS_CA {config.tls_ca!r} cannot be read: {exc.strerror}"
        ) from None
    credentials = grpc.ssl_channel_credentials(root_certificates=root)
    return grpc.secure_channel(config.address, credentials, options=options)


def _stub(config: EngineConfig) -> engine_pb2_grpc.EngineStub:
    """The stub over the process-wide channel; a new channel only when address or CA change."""
    global _channel
    key = (config.address, config.tls_ca)
    with _channel_lock:
        if _channel is None or _channel[0] != key:
            if _channel is not None:
                _channel[1].close()
            _channel = (key, _make_channel(config))
        return engine_pb2_grpc.EngineStub(_channel[1])


def close_channel() -> None:
    """Close the shared channel (tests, process shutdown); the next call opens a new one."""
    global _channel
    with _channel_lock:
        if _channel is not None:
            _channel[1].close()
            _channel = None
    clear_ref_data_cache()


def _metadata(config: EngineConfig, actor: str) -> list[tuple[str, str]]:
    # Metadata values must be printable ASCII; a non-ASCII username travels percent-encoded.
    metadata = [("x-actor", quote(actor, safe="@._-+:"))]
    if config.token:
        metadata.append(("authorization", f"Bearer {config.token}"))
    return metadata


def _unary(actor: str, method: str, request: Any, *, long: bool = False) -> Any:
    config = EngineConfig.current()
    rpc = getattr(_stub(config), method)
    timeout = config.long_timeout_s if long else config.timeout_s
    try:
        return rpc(request, timeout=timeout, metadata=_metadata(config, actor))
    except grpc.RpcError as error:
        raise _translate(error) from None


def _stream(actor: str, method: str, request: Any, *, long: bool = False) -> Iterator[Any]:
    """Iterate a server stream; errors (also mid-stream) come out translated.

    Leaving the loop early (the caller stops iterating) cancels the call on the engine.
    """
    config = EngineConfig.current()
    rpc = getattr(_stub(config), method)
    timeout = config.long_timeout_s if long else config.timeout_s
    call = rpc(request, timeout=timeout, metadata=_metadata(config, actor))
    try:
        yield from call
    except grpc.RpcError as error:
        raise _translate(error) from None
    finally:
        call.cancel()


# --------------------------------------------------------------------------------------------
# Plain data for views and templates
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Money:
    amount_minor: int
    currency: str


@dataclass(frozen=True)
class Page(Generic[T]):
    items: list[T]
    next_page_token: str
    total_count: int


@dataclass(frozen=True)
class Resource:
    kind: str  # MSISDN, IMSI or HANDSET
    value: str
    model: str


@dataclass(frozen=True)
class Address:
    street: str = ""
    city: str = ""
    postal_code: str = ""
    country: str = ""


@dataclass(frozen=True)
class Payment:
    method: str  # CASH, CARD_ON_FILE or DIRECT_DEBIT
    card_reference: str = ""
    card_last4: str = ""
    iban: str = ""  # full in requests; masked by the engine in replies
    account_holder: str = ""


@dataclass(frozen=True)
class AllowanceBalance:
    service: str
    unit: str
    granted: int
    used: int
    period_start: datetime | None
    period_end: datetime | None

    @property
    def remaining(self) -> int:
        return max(self.granted - self.used, 0)


@dataclass(frozen=True)
class Subscriber:
    id: int
    status: str  # ACTIVE or TERMINATED
    payment_type: str  # PREPAID or POSTPAID
    msisdn: str
    imsi: str
    handset_imei: str
    handset_model: str
    identity_number_masked: str
    first_name: str
    last_name: str
    date_of_birth: date | None
    address: Address
    email: str
    contact_phone: str
    payment: Payment
    price_plan_id: int
    bill_cycle_id: int
    balance: Money
    allowances: list[AllowanceBalance]
    activated_at: datetime | None
    terminated_at: datetime | None
    unbilled: Money

    @property
    def full_name(self) -> str:
        return f"{self.first_name} {self.last_name}".strip()

    @property
    def is_active(self) -> bool:
        return self.status == "ACTIVE"

    @property
    def is_prepaid(self) -> bool:
        return self.payment_type == "PREPAID"

    @property
    def is_postpaid(self) -> bool:
        return self.payment_type == "POSTPAID"


@dataclass(frozen=True)
class NewSubscriber:
    """What the CSR entered on the new-subscriber form, ready for CreateSubscriber."""

    msisdn: str
    imsi: str
    identity_number: str
    first_name: str
    last_name: str
    date_of_birth: date
    address: Address
    email: str
    contact_phone: str
    payment: Payment
    payment_type: str
    price_plan_id: int
    bill_cycle_id: int = 0
    handset_imei: str = ""


@dataclass(frozen=True)
class Service:
    id: str
    name: str
    unit: str


@dataclass(frozen=True)
class BillCycle:
    id: int
    name: str
    cycle_day: int


@dataclass(frozen=True)
class Tariff:
    service: str
    zone: str
    band: str
    strategy: str
    unit_price: Money
    price_unit: int
    increment: int
    minimum_quantity: int
    minimum_charge: Money


@dataclass(frozen=True)
class Allowance:
    service: str
    quantity: int
    zones: list[str]


@dataclass(frozen=True)
class PricePlan:
    id: int
    code: str
    name: str
    payment_type: str
    currency: str
    monthly_fee: Money
    initial_credit: Money
    peak_hours: str
    tariffs: list[Tariff]
    allowances: list[Allowance]
    description: str


@dataclass(frozen=True)
class RefData:
    price_plans: list[PricePlan]
    services: list[Service]
    bill_cycles: list[BillCycle]
    operator_name: str
    operator_time_zone: str
    currency: str
    _plans_by_id: dict[int, PricePlan] = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self._plans_by_id.update({plan.id: plan for plan in self.price_plans})

    def plan(self, plan_id: int) -> PricePlan | None:
        return self._plans_by_id.get(plan_id)

    def service(self, service_id: str) -> Service | None:
        return next((s for s in self.services if s.id == service_id), None)

    def bill_cycle(self, cycle_id: int) -> BillCycle | None:
        return next((c for c in self.bill_cycles if c.id == cycle_id), None)


@dataclass(frozen=True)
class Voucher:
    serial: str
    batch: str
    value: Money
    state: str  # NEW, USED or ERROR
    created_at: datetime | None
    expires_at: datetime | None
    state_changed_at: datetime | None
    state_reason: str
    redeemed_by_subscriber_id: int
    redeemed_at: datetime | None
    redeemed_by_actor: str


@dataclass(frozen=True)
class VoucherUpdate:
    updated_count: int
    vouchers: list[Voucher]


@dataclass(frozen=True)
class Redemption:
    voucher_serial: str
    credited: Money
    balance: Money
    redeemed_at: datetime | None


@dataclass(frozen=True)
class RatedCdr:
    cdr_id: str
    service: str
    started_at: datetime | None
    quantity: int
    unit: str
    other_party: str
    zone: str
    band: str
    billable_quantity: int
    allowance_used: int
    charge: Money
    flags: list[str]
    bill_id: int


@dataclass(frozen=True)
class UsagePage:
    """One page of rated usage, newest first; ``has_more`` says whether another page follows."""

    rows: list[RatedCdr]
    offset: int
    has_more: bool


@dataclass(frozen=True)
class BillLine:
    kind: str
    description: str
    service: str
    quantity: int
    unit: str
    amount: Money


@dataclass(frozen=True)
class Bill:
    id: int
    invoice_number: str
    subscriber_id: int
    period_start: datetime | None
    period_end: datetime | None
    issued_at: datetime | None
    net_total: Money
    status: str  # DRAFT or ISSUED
    kind: str  # MONTHLY, ON_DEMAND or FINAL
    lines: list[BillLine]


@dataclass(frozen=True)
class BillingResult:
    bill_id: int
    invoice_number: str
    net_total: Money


@dataclass(frozen=True)
class Termination:
    subscriber: Subscriber
    final_bill: Bill | None
    msisdn_available_at: datetime | None


# --------------------------------------------------------------------------------------------
# protobuf -> plain data
# --------------------------------------------------------------------------------------------


def _money(message: types_pb2.Money) -> Money:
    return Money(message.amount_minor, message.currency)


def _time(parent: Any, name: str) -> datetime | None:
    if not parent.HasField(name):
        return None
    stamp: Timestamp = getattr(parent, name)
    return stamp.ToDatetime(tzinfo=UTC)


def _date(message: types_pb2.Date) -> date | None:
    if not message.year:
        return None
    return date(message.year, message.month, message.day)


def _enum_name(enum: Any, value: int) -> str:
    return str(enum.Name(value))


def _subscriber(m: types_pb2.Subscriber) -> Subscriber:
    return Subscriber(
        id=m.id,
        status=_enum_name(types_pb2.SubscriberStatus, m.status),
        payment_type=_enum_name(types_pb2.PaymentType, m.payment_type),
        msisdn=m.msisdn,
        imsi=m.imsi,
        handset_imei=m.handset_imei,
        handset_model=m.handset_model,
        identity_number_masked=m.identity_number_masked,
        first_name=m.first_name,
        last_name=m.last_name,
        date_of_birth=_date(m.date_of_birth),
        address=Address(
            m.address.street, m.address.city, m.address.postal_code, m.address.country
        ),
        email=m.email,
        contact_phone=m.contact_phone,
        payment=Payment(
            method=_enum_name(types_pb2.PaymentMethod, m.payment.method),
            card_reference=m.payment.card_reference,
            card_last4=m.payment.card_last4,
            iban=m.payment.iban,
            account_holder=m.payment.account_holder,
        ),
        price_plan_id=m.price_plan_id,
        bill_cycle_id=m.bill_cycle_id,
        balance=_money(m.balance),
        allowances=[
            AllowanceBalance(
                a.service, a.unit, a.granted, a.used,
                _time(a, "period_start"), _time(a, "period_end"),
            )
            for a in m.allowances
        ],
        activated_at=_time(m, "activated_at"),
        terminated_at=_time(m, "terminated_at"),
        unbilled=_money(m.unbilled),
    )  # fmt: skip


def _price_plan(m: types_pb2.PricePlan) -> PricePlan:
    return PricePlan(
        id=m.id,
        code=m.code,
        name=m.name,
        payment_type=_enum_name(types_pb2.PaymentType, m.payment_type),
        currency=m.currency,
        monthly_fee=_money(m.monthly_fee),
        initial_credit=_money(m.initial_credit),
        peak_hours=m.peak_hours,
        tariffs=[
            Tariff(
                t.service, t.zone, t.band, t.strategy, _money(t.unit_price), t.price_unit,
                t.increment, t.minimum_quantity, _money(t.minimum_charge),
            )
            for t in m.tariffs
        ],
        allowances=[Allowance(a.service, a.quantity, list(a.zones)) for a in m.allowances],
        description=m.description,
    )  # fmt: skip


def _voucher(m: types_pb2.Voucher) -> Voucher:
    return Voucher(
        serial=m.serial,
        batch=m.batch,
        value=_money(m.value),
        state=_enum_name(types_pb2.VoucherState, m.state),
        created_at=_time(m, "created_at"),
        expires_at=_time(m, "expires_at"),
        state_changed_at=_time(m, "state_changed_at"),
        state_reason=m.state_reason,
        redeemed_by_subscriber_id=m.redeemed_by_subscriber_id,
        redeemed_at=_time(m, "redeemed_at"),
        redeemed_by_actor=m.redeemed_by_actor,
    )


def _cdr(m: types_pb2.RatedCdr) -> RatedCdr:
    return RatedCdr(
        cdr_id=m.cdr_id,
        service=m.service,
        started_at=_time(m, "started_at"),
        quantity=m.quantity,
        unit=m.unit,
        other_party=m.other_party,
        zone=m.zone,
        band=m.band,
        billable_quantity=m.billable_quantity,
        allowance_used=m.allowance_used,
        charge=_money(m.charge),
        flags=list(m.flags),
        bill_id=m.bill_id,
    )


def _bill(m: types_pb2.Bill) -> Bill:
    return Bill(
        id=m.id,
        invoice_number=m.invoice_number,
        subscriber_id=m.subscriber_id,
        period_start=_time(m, "period_start"),
        period_end=_time(m, "period_end"),
        issued_at=_time(m, "issued_at"),
        net_total=_money(m.net_total),
        status=_enum_name(types_pb2.BillStatus, m.status),
        kind=_enum_name(types_pb2.BillKind, m.kind),
        lines=[
            BillLine(line.kind, line.description, line.service, line.quantity, line.unit,
                     _money(line.amount))
            for line in m.lines
        ],
    )  # fmt: skip


def _page_request(page_size: int, page_token: str) -> types_pb2.PageRequest:
    return types_pb2.PageRequest(page_size=page_size, page_token=page_token)


# --------------------------------------------------------------------------------------------
# RPCs
# --------------------------------------------------------------------------------------------


def get_available_resources(
    actor: str, kind: str, *, prefix: str = "", page_size: int = 50, page_token: str = ""
) -> Page[Resource]:
    """Free MSISDNs, IMSIs or handsets (``kind``), in value order, optionally by prefix."""
    reply = _unary(
        actor,
        "GetAvailableResources",
        engine_pb2.GetAvailableResourcesRequest(
            type=kind,
            prefix=prefix,
            page=_page_request(page_size, page_token),
        ),
    )
    items = [
        Resource(_enum_name(types_pb2.ResourceType, r.type), r.value, r.model)
        for r in reply.resources
    ]
    return Page(items, reply.page.next_page_token, reply.page.total_count)


def _new_subscriber_request(new: NewSubscriber) -> engine_pb2.CreateSubscriberRequest:
    return engine_pb2.CreateSubscriberRequest(
        msisdn=new.msisdn,
        imsi=new.imsi,
        handset_imei=new.handset_imei,
        identity_number=new.identity_number,
        first_name=new.first_name,
        last_name=new.last_name,
        date_of_birth=types_pb2.Date(
            year=new.date_of_birth.year, month=new.date_of_birth.month, day=new.date_of_birth.day
        ),
        address=types_pb2.Address(
            street=new.address.street,
            city=new.address.city,
            postal_code=new.address.postal_code,
            country=new.address.country,
        ),
        email=new.email,
        contact_phone=new.contact_phone,
        payment=types_pb2.PaymentData(
            method=new.payment.method,
            card_reference=new.payment.card_reference,
            card_last4=new.payment.card_last4,
            iban=new.payment.iban,
            account_holder=new.payment.account_holder,
        ),
        payment_type=new.payment_type,
        price_plan_id=new.price_plan_id,
        bill_cycle_id=new.bill_cycle_id,
    )


def create_subscriber(actor: str, new: NewSubscriber) -> Subscriber:
    reply = _unary(actor, "CreateSubscriber", _new_subscriber_request(new))
    return _subscriber(reply)


def get_subscriber(actor: str, subscriber_id: int) -> Subscriber:
    reply = _unary(
        actor, "GetSubscriber", engine_pb2.GetSubscriberRequest(subscriber_id=subscriber_id)
    )
    return _subscriber(reply)


def search_subscribers(
    actor: str,
    *,
    msisdn: str = "",
    imsi: str = "",
    name: str = "",
    identity_last_digits: str = "",
    include_terminated: bool = False,
    page_size: int = 25,
    page_token: str = "",
) -> Page[Subscriber]:
    reply = _unary(
        actor,
        "SearchSubscribers",
        engine_pb2.SearchSubscribersRequest(
            msisdn=msisdn,
            imsi=imsi,
            name=name,
            identity_last_digits=identity_last_digits,
            include_terminated=include_terminated,
            page=_page_request(page_size, page_token),
        ),
    )
    return Page(
        [_subscriber(s) for s in reply.subscribers],
        reply.page.next_page_token,
        reply.page.total_count,
    )


_ref_data_lock = threading.Lock()
_ref_data_cache: dict[str, tuple[float, RefData]] = {}


def clear_ref_data_cache() -> None:
    with _ref_data_lock:
        _ref_data_cache.clear()


def get_ref_data(actor: str) -> RefData:
    """Price plans, services and bill cycles; cached for a minute (they change with a release)."""
    address = EngineConfig.current().address
    now = time.monotonic()
    with _ref_data_lock:
        cached = _ref_data_cache.get(address)
        if cached and now - cached[0] < REF_DATA_TTL_S:
            return cached[1]
    reply = _unary(actor, "GetRefData", engine_pb2.GetRefDataRequest())
    ref = RefData(
        price_plans=[_price_plan(p) for p in reply.price_plans],
        services=[Service(s.id, s.name, s.unit) for s in reply.services],
        bill_cycles=[BillCycle(c.id, c.name, c.cycle_day) for c in reply.bill_cycles],
        operator_name=reply.operator_name,
        operator_time_zone=reply.operator_time_zone,
        currency=reply.currency,
    )
    with _ref_data_lock:
        _ref_data_cache[address] = (now, ref)
    return ref


def select_vouchers(
    actor: str,
    *,
    state: str = "",
    batch: str = "",
    serial: str = "",
    page_size: int = 50,
    page_token: str = "",
) -> Page[Voucher]:
    """Vouchers by state (NEW/USED/ERROR, empty = any), exact batch and serial prefix."""
    reply = _unary(
        actor,
        "SelectVouchers",
        engine_pb2.SelectVouchersRequest(
            state=state or None,
            batch=batch,
            serial=serial,
            page=_page_request(page_size, page_token),
        ),
    )
    return Page(
        [_voucher(v) for v in reply.vouchers], reply.page.next_page_token, reply.page.total_count
    )


def update_voucher_state(
    actor: str, *, new_state: str, reason: str, serial: str = "", batch: str = ""
) -> VoucherUpdate:
    """Withdraw (``new_state="ERROR"``) or restore (``"NEW"``) one serial or a whole batch."""
    if bool(serial) == bool(batch):
        raise ValueError("give exactly one of serial or batch")
    request = engine_pb2.UpdateVoucherStateRequest(new_state=new_state, reason=reason)
    if serial:
        request.serial = serial
    else:
        request.batch = batch
    reply = _unary(actor, "UpdateVoucherState", request)
    return VoucherUpdate(reply.updated_count, [_voucher(v) for v in reply.vouchers])


def redeem_voucher(actor: str, subscriber_id: int, pin: str) -> Redemption:
    reply = _unary(
        actor,
        "RedeemVoucher",
        engine_pb2.RedeemVoucherRequest(subscriber_id=subscriber_id, pin=pin),
    )
    return Redemption(
        reply.voucher_serial,
        _money(reply.credited),
        _money(reply.balance),
        _time(reply, "redeemed_at"),
    )


def _timestamp(moment: datetime) -> Timestamp:
    stamp = Timestamp()
    stamp.FromDatetime(moment)
    return stamp


def get_subscriber_usage(
    actor: str,
    subscriber_id: int,
    *,
    offset: int = 0,
    limit: int = 50,
    start: datetime | None = None,
    end: datetime | None = None,
) -> UsagePage:
    """Rated usage newest first (default: the last 3 months), rows ``offset``..``offset+limit``.

    The stream is read only as far as this page (plus one row to know whether more follow) and
    then cancelled, so a long history costs the CRM no more memory than one page.
    """
    request = engine_pb2.GetSubscriberUsageRequest(
        subscriber_id=subscriber_id, rows_per_message=min(max(offset + limit + 1, 1), 5000)
    )
    if start is not None:
        getattr(request, "from").CopyFrom(_timestamp(start))
    if end is not None:
        request.to.CopyFrom(_timestamp(end))
    rows: list[RatedCdr] = []
    seen = 0
    has_more = False
    for chunk in _stream(actor, "GetSubscriberUsage", request):
        for cdr in chunk.cdrs:
            if seen >= offset + limit:
                has_more = True
                break
            if seen >= offset:
                rows.append(_cdr(cdr))
            seen += 1
        if has_more:
            break
    return UsagePage(rows, offset, has_more)


def get_subscriber_bills(actor: str, subscriber_id: int) -> list[Bill]:
    """Every bill of the subscriber, newest first."""
    request = engine_pb2.GetSubscriberBillsRequest(subscriber_id=subscriber_id)
    return [_bill(b) for b in _stream(actor, "GetSubscriberBills", request)]


def execute_billing(actor: str, subscriber_id: int) -> BillingResult:
    """Bill everything unbilled up to now (postpaid); the engine writes the PDF before replying."""
    reply = _unary(
        actor,
        "ExecuteBilling",
        engine_pb2.ExecuteBillingRequest(subscriber_id=subscriber_id),
        long=True,
    )
    return BillingResult(reply.bill_id, reply.invoice_number, _money(reply.net_total))


def terminate_subscriber(actor: str, subscriber_id: int, reason: str) -> Termination:
    reply = _unary(
        actor,
        "TerminateSubscriber",
        engine_pb2.TerminateSubscriberRequest(subscriber_id=subscriber_id, reason=reason),
        long=True,
    )
    return Termination(
        _subscriber(reply.subscriber),
        _bill(reply.final_bill) if reply.HasField("final_bill") else None,
        _time(reply, "msisdn_available_at"),
    )


class InvoiceStream(Iterable[bytes]):
    """An invoice PDF coming from the engine: name and type known up front, bytes as they come.

    The first chunk is read when the stream is opened, so "no such bill" or an unreachable
    engine is raised before the CRM starts an HTTP response.
    """

    def __init__(self, chunks: Iterator[engine_pb2.InvoiceChunk]) -> None:
        self._chunks = chunks
        first = next(chunks, None)
        if first is None:
            raise EngineFailed("the engine sent an empty invoice")
        self._first = first
        self.file_name: str = first.file_name
        self.content_type: str = first.content_type or "application/pdf"
        self.total_size: int = first.total_size

    def __iter__(self) -> Iterator[bytes]:
        if self._first.data:
            yield self._first.data
        for chunk in self._chunks:
            yield chunk.data

    def close(self) -> None:
        """Cancel the engine call (Django calls this when the client goes away)."""
        close: Callable[[], None] | None = getattr(self._chunks, "close", None)
        if close is not None:
            close()


def iter_invoice(actor: str, bill_id: int) -> InvoiceStream:
    """Open the invoice PDF of ``bill_id``; iterate the result for its bytes."""
    request = engine_pb2.GetInvoiceRequest(bill_id=bill_id)
    return InvoiceStream(_stream(actor, "GetInvoice", request, long=True))
