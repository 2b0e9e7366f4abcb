"""The one module that converts between protobuf messages and domain objects.

Servicers call these and nothing else to cross the boundary, so a conversion rule (time zones,
money, enum numbers, masking) lives in exactly one place. Requests are converted leniently only
where proto3 forces it (an enum zero means "not given"); out-of-range enum numbers and impossible
dates become INVALID_ARGUMENT naming the field. Responses never carry a PIN, a full identity
number or a full IBAN.

Sections: time, money, enums, paging, resources, subscribers, reference data, vouchers.
Other areas (usage, billing) append their own sections at the end.
"""

from __future__ import annotations

from datetime import date, datetime

from google.protobuf.internal.enum_type_wrapper import EnumTypeWrapper
from google.protobuf.timestamp_pb2 import Timestamp

from microbss.engine.domain import catalog as cat
from microbss.engine.domain.billing import Bill, BillLine
from microbss.engine.domain.errors import InvalidArgument
from microbss.engine.domain.identifiers import mask_iban, mask_identity
from microbss.engine.domain.money import Money
from microbss.engine.domain.paging import Page, PageRequest, page_request
from microbss.engine.domain.resource import Resource, ResourceType
from microbss.engine.domain.subscriber import (
    Address,
    AllowanceState,
    NewSubscriber,
    PaymentData,
    PaymentMethod,
    SubscriberQuery,
    SubscriberView,
)
from microbss.engine.domain.voucher import Redemption, Voucher, VoucherState
from microbss.engine.services import usage
from microbss.engine.services.refdata import RefData
from microbss.v1 import engine_pb2, types_pb2

# --- Time ------------------------------------------------------------------------------------


_EPOCH = datetime(1970, 1, 1)


def timestamp(instant: datetime | None) -> Timestamp | None:
    """Naive UTC datetime -> Timestamp (None stays None, so the field stays unset).

    Arithmetic on the timedelta rather than Timestamp.FromDatetime, which goes through a time
    tuple in Python: GetSubscriber maps four of these per call. Before the epoch, seconds go
    negative and nanos stay in [0, 1e9), as Timestamp requires.
    """
    if instant is None:
        return None
    since = instant - _EPOCH
    return Timestamp(seconds=since.days * 86_400 + since.seconds, nanos=since.microseconds * 1000)


def instant(message: Timestamp) -> datetime:
    """Timestamp -> naive UTC datetime."""
    return message.ToDatetime()


def instant_or_none(message: Timestamp | None, present: bool) -> datetime | None:
    """The instant of an optional Timestamp field (``present`` from HasField)."""
    return instant(message) if message is not None and present else None


def date_to_pb(day: date | None) -> types_pb2.Date | None:
    return types_pb2.Date(year=day.year, month=day.month, day=day.day) if day else None


def date_from_pb(message: types_pb2.Date, field: str) -> date | None:
    """Date -> date; an all-zero Date means "not given", a nonexistent day is an error."""
    if message.year == 0 and message.month == 0 and message.day == 0:
        return None
    try:
        return date(message.year, message.month, message.day)
    except ValueError:
        raise InvalidArgument(
            f"{message.year:04d}-{message.month:02d}-{message.day:02d} is not a calendar date",
            field=field,
        ) from None


# --- Money -----------------------------------------------------------------------------------


def money(amount_minor: int, currency: str) -> types_pb2.Money:
    return types_pb2.Money(amount_minor=amount_minor, currency=currency)


def money_to_pb(value: Money) -> types_pb2.Money:
    return money(value.amount_minor, value.currency)


# --- Enums -----------------------------------------------------------------------------------


def _enum_name(wrapper: EnumTypeWrapper, number: int, field: str) -> str | None:
    """proto3 enums are open: 0 is "not given", an unknown number is the caller's mistake."""
    if number == 0:
        return None
    try:
        return str(wrapper.Name(number))
    except ValueError:
        raise InvalidArgument(f"{number} is not a known value", field=field) from None


# Responses set enum fields by name (protobuf accepts the label), which keeps both sides typed.


def resource_type_from_pb(number: int, field: str = "type") -> ResourceType | None:
    name = _enum_name(types_pb2.ResourceType, number, field)
    return ResourceType(name) if name else None


def payment_type_from_pb(number: int, field: str = "payment_type") -> cat.PaymentType | None:
    name = _enum_name(types_pb2.PaymentType, number, field)
    return cat.PaymentType(name) if name else None


def payment_method_from_pb(number: int, field: str = "payment.method") -> PaymentMethod | None:
    name = _enum_name(types_pb2.PaymentMethod, number, field)
    return PaymentMethod(name) if name else None


def payment_method_name(value: PaymentMethod | None) -> str:
    return value.value if value else "PAYMENT_METHOD_UNSPECIFIED"


def voucher_state_from_pb(number: int, field: str = "state") -> VoucherState | None:
    """Voucher states keep the original system's numbers: NEW 1, USED 2, ERROR 3."""
    if number == 0:
        return None
    try:
        return VoucherState(number)
    except ValueError:
        raise InvalidArgument(
            f"{number} is not a voucher state (1 NEW, 2 USED, 3 ERROR)", field=field
        ) from None


# --- Paging ----------------------------------------------------------------------------------


def page_request_from_pb(message: types_pb2.PageRequest) -> PageRequest:
    return page_request(message.page_size, message.page_token)


def page_info(page: Page[object]) -> types_pb2.PageInfo:
    return types_pb2.PageInfo(next_page_token=page.next_token, total_count=page.total_count)


# --- Resources -------------------------------------------------------------------------------


def resource_to_pb(resource: Resource) -> types_pb2.Resource:
    return types_pb2.Resource(type=resource.type.value, value=resource.value, model=resource.model)


def available_resources_to_pb(page: Page[Resource]) -> engine_pb2.GetAvailableResourcesResponse:
    return engine_pb2.GetAvailableResourcesResponse(
        resources=[resource_to_pb(r) for r in page.items],
        page=page_info(page),  # type: ignore[arg-type]
    )


# --- Subscribers -----------------------------------------------------------------------------


def new_subscriber_from_pb(request: engine_pb2.CreateSubscriberRequest) -> NewSubscriber:
    payment = request.payment
    return NewSubscriber(
        msisdn=request.msisdn,
        imsi=request.imsi,
        handset_imei=request.handset_imei,
        identity_number=request.identity_number,
        first_name=request.first_name,
        last_name=request.last_name,
        date_of_birth=date_from_pb(request.date_of_birth, "date_of_birth"),
        address=Address(
            street=request.address.street,
            city=request.address.city,
            postal_code=request.address.postal_code,
            country=request.address.country,
        ),
        email=request.email,
        contact_phone=request.contact_phone,
        payment=PaymentData(
            method=payment_method_from_pb(payment.method),
            card_reference=payment.card_reference,
            card_last4=payment.card_last4,
            iban=payment.iban,
            account_holder=payment.account_holder,
        ),
        payment_type=payment_type_from_pb(request.payment_type),
        price_plan_id=request.price_plan_id,
        bill_cycle_id=request.bill_cycle_id,
    )


def subscriber_query_from_pb(request: engine_pb2.SearchSubscribersRequest) -> SubscriberQuery:
    return SubscriberQuery(
        msisdn_prefix=request.msisdn,
        imsi_prefix=request.imsi,
        name=request.name,
        identity_last_digits=request.identity_last_digits,
        include_terminated=request.include_terminated,
    )


def allowance_state_to_pb(state: AllowanceState) -> types_pb2.AllowanceBalance:
    return types_pb2.AllowanceBalance(
        service=state.service_id,
        unit=state.unit,
        granted=state.granted,
        used=state.used,
        period_start=timestamp(state.period_start),
        period_end=timestamp(state.period_end),
    )


def subscriber_to_pb(view: SubscriberView) -> types_pb2.Subscriber:
    s = view.subscriber
    return types_pb2.Subscriber(
        id=s.id,
        status=s.status.value,
        payment_type=s.payment_type.value,
        msisdn=s.msisdn,
        imsi=s.imsi,
        handset_imei=s.handset_imei,
        handset_model=s.handset_model,
        identity_number_masked=mask_identity(s.identity_last4),
        first_name=s.first_name,
        last_name=s.last_name,
        date_of_birth=date_to_pb(s.date_of_birth),
        address=types_pb2.Address(
            street=s.address.street,
            city=s.address.city,
            postal_code=s.address.postal_code,
            country=s.address.country,
        ),
        email=s.email,
        contact_phone=s.contact_phone,
        payment=types_pb2.PaymentData(
            method=payment_method_name(s.payment.method),
            card_reference=s.payment.card_reference,
            card_last4=s.payment.card_last4,
            iban=mask_iban(s.payment.iban),
            account_holder=s.payment.account_holder,
        ),
        price_plan_id=s.price_plan_id,
        bill_cycle_id=s.bill_cycle_id or 0,
        balance=money_to_pb(view.balance),
        allowances=[allowance_state_to_pb(a) for a in view.allowances],
        activated_at=timestamp(s.activated_at),
        terminated_at=timestamp(s.terminated_at),
        unbilled=money_to_pb(view.unbilled) if view.unbilled else None,
    )


def search_result_to_pb(page: Page[SubscriberView]) -> engine_pb2.SearchSubscribersResponse:
    return engine_pb2.SearchSubscribersResponse(
        subscribers=[subscriber_to_pb(v) for v in page.items],
        page=page_info(page),  # type: ignore[arg-type]
    )


# --- Reference data --------------------------------------------------------------------------


def service_to_pb(service: cat.Service) -> types_pb2.Service:
    return types_pb2.Service(id=service.id, name=service.name, unit=service.unit.value)


def bill_cycle_to_pb(cycle: cat.BillCycle) -> types_pb2.BillCycle:
    return types_pb2.BillCycle(id=cycle.id, name=cycle.name, cycle_day=cycle.cycle_day)


def tariff_to_pb(tariff: cat.Tariff, currency: str) -> types_pb2.Tariff:
    return types_pb2.Tariff(
        service=tariff.service_id,
        zone=tariff.zone.value,
        band=tariff.band.value,
        strategy=tariff.strategy.value,
        unit_price=money(tariff.unit_price, currency),
        price_unit=tariff.price_unit,
        increment=tariff.increment,
        minimum_quantity=tariff.minimum_quantity,
        minimum_charge=money(tariff.minimum_charge, currency),
    )


def allowance_to_pb(allowance: cat.Allowance) -> types_pb2.Allowance:
    return types_pb2.Allowance(
        service=allowance.service_id,
        quantity=allowance.quantity,
        zones=sorted(z.value for z in allowance.zones),
    )


def price_plan_to_pb(plan: cat.PricePlan) -> types_pb2.PricePlan:
    return types_pb2.PricePlan(
        id=plan.id,
        code=plan.code,
        name=plan.name,
        payment_type=plan.payment_type.value,
        currency=plan.currency,
        monthly_fee=money(plan.monthly_fee, plan.currency),
        initial_credit=money(plan.initial_credit, plan.currency),
        peak_hours=plan.peak_hours.describe() if plan.peak_hours else "",
        tariffs=[tariff_to_pb(t, plan.currency) for t in plan.tariffs],
        allowances=[allowance_to_pb(a) for a in plan.allowances],
        description=plan.description,
    )


def ref_data_to_pb(ref: RefData) -> engine_pb2.RefData:
    catalog = ref.catalog
    return engine_pb2.RefData(
        price_plans=[price_plan_to_pb(p) for p in catalog.price_plans.values()],
        services=[service_to_pb(s) for s in catalog.services.values()],
        bill_cycles=[bill_cycle_to_pb(c) for c in catalog.bill_cycles.values()],
        operator_name=ref.operator_name,
        operator_time_zone=ref.time_zone,
        currency=ref.currency,
    )


# --- Vouchers --------------------------------------------------------------------------------


def voucher_to_pb(voucher: Voucher) -> types_pb2.Voucher:
    return types_pb2.Voucher(
        serial=voucher.serial,
        batch=voucher.batch,
        value=money(voucher.value_minor, voucher.currency),
        state=voucher.state.name,
        created_at=timestamp(voucher.created_at),
        expires_at=timestamp(voucher.expires_at),
        state_changed_at=timestamp(voucher.state_changed_at),
        state_reason=voucher.state_reason,
        redeemed_by_subscriber_id=voucher.redeemed_by_subscriber_id or 0,
        redeemed_at=timestamp(voucher.redeemed_at),
        redeemed_by_actor=voucher.redeemed_by_actor,
    )


def vouchers_to_pb(page: Page[Voucher]) -> engine_pb2.SelectVouchersResponse:
    return engine_pb2.SelectVouchersResponse(
        vouchers=[voucher_to_pb(v) for v in page.items],
        page=page_info(page),  # type: ignore[arg-type]
    )


def redemption_to_pb(redemption: Redemption) -> engine_pb2.RedeemVoucherResponse:
    return engine_pb2.RedeemVoucherResponse(
        voucher_serial=redemption.serial,
        credited=money(redemption.credited_minor, redemption.currency),
        balance=money(redemption.balance_minor, redemption.currency),
        redeemed_at=timestamp(redemption.redeemed_at),
    )


# --- billing (E4) ----------------------------------------------------------------------------


def bill_line_to_pb(line: BillLine, currency: str) -> types_pb2.BillLine:
    return types_pb2.BillLine(
        kind=line.kind.value,
        description=line.description,
        service=line.service_id,
        quantity=line.quantity,
        unit=line.unit,
        amount=money(line.amount, currency),
    )


def bill_to_pb(bill: Bill) -> types_pb2.Bill:
    return types_pb2.Bill(
        id=bill.id,
        invoice_number=bill.invoice_number,
        subscriber_id=bill.subscriber_id,
        period_start=timestamp(bill.period_start),
        period_end=timestamp(bill.period_end),
        issued_at=timestamp(bill.issued_at),
        net_total=money(bill.net_total, bill.currency),
        status=bill.status.value,  # proto enum names equal the domain values
        kind=bill.kind.value,
        lines=[bill_line_to_pb(line, bill.currency) for line in bill.lines],
    )


def execute_billing_to_pb(bill: Bill) -> engine_pb2.ExecuteBillingResponse:
    return engine_pb2.ExecuteBillingResponse(
        ack=types_pb2.ACK_OK,
        bill_id=bill.id,
        invoice_number=bill.invoice_number,
        net_total=money(bill.net_total, bill.currency),
    )


def termination_to_pb(
    subscriber: SubscriberView, final_bill: Bill | None, msisdn_available_at: datetime
) -> engine_pb2.TerminateSubscriberResponse:
    return engine_pb2.TerminateSubscriberResponse(
        subscriber=subscriber_to_pb(subscriber),
        final_bill=bill_to_pb(final_bill) if final_bill else None,
        msisdn_available_at=timestamp(msisdn_available_at),
    )


# --- usage (E3) ------------------------------------------------------------------------------

# flags bits -> names, for every combination of the known bits
_FLAG_NAMES_BY_BITS = {
    bits: [name for bit, name in usage.FLAG_NAMES.items() if bits & bit]
    for bits in range(1 << max(usage.FLAG_NAMES).bit_length())
}


def usage_chunk_to_pb(chunk: usage.UsageRows) -> engine_pb2.UsageChunk:
    """One stream message from the driver's rows (tuples, not domain objects).

    The one place in this module that reads tuples: a stream of 100k CDRs spends most of its
    time here, and ``add()`` with keyword arguments plus integer Timestamp fields is several
    times faster than a domain object, a RatedCdr constructor and ``Timestamp.FromDatetime`` per
    row (so is setting a nested message's fields one by one: passing a prebuilt Money or
    Timestamp to ``add()`` copies it, which costs more).
    """
    message = engine_pb2.UsageChunk()
    add = message.cdrs.add
    ratings = chunk.ratings
    for (cdr_id, rating_key, started_micros, quantity, other_party, billable, allowance_used,
         charge_minor, flags, bill_id, _key) in chunk.rows:  # fmt: skip
        rating = ratings[rating_key]
        cdr = add(
            cdr_id=cdr_id,
            service=rating.service,
            quantity=quantity,
            unit=rating.unit,
            other_party=other_party,
            zone=rating.zone,
            band=rating.band,
            billable_quantity=billable,
            allowance_used=allowance_used,
            bill_id=bill_id or 0,
        )
        started = cdr.started_at
        started.seconds, micros = divmod(started_micros, 1_000_000)
        if micros:  # most CDRs start on a whole second
            started.nanos = micros * 1000
        charge = cdr.charge
        charge.amount_minor = charge_minor
        charge.currency = rating.currency
        if flags:
            cdr.flags.extend(_FLAG_NAMES_BY_BITS.get(flags, ()))
    return message
