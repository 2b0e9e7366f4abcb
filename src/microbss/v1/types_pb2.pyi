import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf.internal import enum_type_wrapper as _enum_type_wrapper
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class ResourceType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    RESOURCE_TYPE_UNSPECIFIED: _ClassVar[ResourceType]
    MSISDN: _ClassVar[ResourceType]
    IMSI: _ClassVar[ResourceType]
    HANDSET: _ClassVar[ResourceType]

class PaymentType(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_TYPE_UNSPECIFIED: _ClassVar[PaymentType]
    PREPAID: _ClassVar[PaymentType]
    POSTPAID: _ClassVar[PaymentType]

class PaymentMethod(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    PAYMENT_METHOD_UNSPECIFIED: _ClassVar[PaymentMethod]
    CASH: _ClassVar[PaymentMethod]
    CARD_ON_FILE: _ClassVar[PaymentMethod]
    DIRECT_DEBIT: _ClassVar[PaymentMethod]

class SubscriberStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    SUBSCRIBER_STATUS_UNSPECIFIED: _ClassVar[SubscriberStatus]
    ACTIVE: _ClassVar[SubscriberStatus]
    TERMINATED: _ClassVar[SubscriberStatus]

class VoucherState(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    VOUCHER_STATE_UNSPECIFIED: _ClassVar[VoucherState]
    NEW: _ClassVar[VoucherState]
    USED: _ClassVar[VoucherState]
    ERROR: _ClassVar[VoucherState]

class BillStatus(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BILL_STATUS_UNSPECIFIED: _ClassVar[BillStatus]
    DRAFT: _ClassVar[BillStatus]
    ISSUED: _ClassVar[BillStatus]

class BillKind(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    BILL_KIND_UNSPECIFIED: _ClassVar[BillKind]
    MONTHLY: _ClassVar[BillKind]
    ON_DEMAND: _ClassVar[BillKind]
    FINAL: _ClassVar[BillKind]

class Ack(int, metaclass=_enum_type_wrapper.EnumTypeWrapper):
    __slots__ = ()
    ACK_UNSPECIFIED: _ClassVar[Ack]
    ACK_OK: _ClassVar[Ack]
RESOURCE_TYPE_UNSPECIFIED: ResourceType
MSISDN: ResourceType
IMSI: ResourceType
HANDSET: ResourceType
PAYMENT_TYPE_UNSPECIFIED: PaymentType
PREPAID: PaymentType
POSTPAID: PaymentType
PAYMENT_METHOD_UNSPECIFIED: PaymentMethod
CASH: PaymentMethod
CARD_ON_FILE: PaymentMethod
DIRECT_DEBIT: PaymentMethod
SUBSCRIBER_STATUS_UNSPECIFIED: SubscriberStatus
ACTIVE: SubscriberStatus
TERMINATED: SubscriberStatus
VOUCHER_STATE_UNSPECIFIED: VoucherState
NEW: VoucherState
USED: VoucherState
ERROR: VoucherState
BILL_STATUS_UNSPECIFIED: BillStatus
DRAFT: BillStatus
ISSUED: BillStatus
BILL_KIND_UNSPECIFIED: BillKind
MONTHLY: BillKind
ON_DEMAND: BillKind
FINAL: BillKind
ACK_UNSPECIFIED: Ack
ACK_OK: Ack

class Money(_message.Message):
    __slots__ = ("amount_minor", "currency")
    AMOUNT_MINOR_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    amount_minor: int
    currency: str
    def __init__(self, amount_minor: _Optional[int] = ..., currency: _Optional[str] = ...) -> None: ...

class Date(_message.Message):
    __slots__ = ("year", "month", "day")
    YEAR_FIELD_NUMBER: _ClassVar[int]
    MONTH_FIELD_NUMBER: _ClassVar[int]
    DAY_FIELD_NUMBER: _ClassVar[int]
    year: int
    month: int
    day: int
    def __init__(self, year: _Optional[int] = ..., month: _Optional[int] = ..., day: _Optional[int] = ...) -> None: ...

class PageRequest(_message.Message):
    __slots__ = ("page_size", "page_token")
    PAGE_SIZE_FIELD_NUMBER: _ClassVar[int]
    PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    page_size: int
    page_token: str
    def __init__(self, page_size: _Optional[int] = ..., page_token: _Optional[str] = ...) -> None: ...

class PageInfo(_message.Message):
    __slots__ = ("next_page_token", "total_count")
    NEXT_PAGE_TOKEN_FIELD_NUMBER: _ClassVar[int]
    TOTAL_COUNT_FIELD_NUMBER: _ClassVar[int]
    next_page_token: str
    total_count: int
    def __init__(self, next_page_token: _Optional[str] = ..., total_count: _Optional[int] = ...) -> None: ...

class Resource(_message.Message):
    __slots__ = ("type", "value", "model")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    MODEL_FIELD_NUMBER: _ClassVar[int]
    type: ResourceType
    value: str
    model: str
    def __init__(self, type: _Optional[_Union[ResourceType, str]] = ..., value: _Optional[str] = ..., model: _Optional[str] = ...) -> None: ...

class Address(_message.Message):
    __slots__ = ("street", "city", "postal_code", "country")
    STREET_FIELD_NUMBER: _ClassVar[int]
    CITY_FIELD_NUMBER: _ClassVar[int]
    POSTAL_CODE_FIELD_NUMBER: _ClassVar[int]
    COUNTRY_FIELD_NUMBER: _ClassVar[int]
    street: str
    city: str
    postal_code: str
    country: str
    def __init__(self, street: _Optional[str] = ..., city: _Optional[str] = ..., postal_code: _Optional[str] = ..., country: _Optional[str] = ...) -> None: ...

class PaymentData(_message.Message):
    __slots__ = ("method", "card_reference", "card_last4", "iban", "account_holder")
    METHOD_FIELD_NUMBER: _ClassVar[int]
    CARD_REFERENCE_FIELD_NUMBER: _ClassVar[int]
    CARD_LAST4_FIELD_NUMBER: _ClassVar[int]
    IBAN_FIELD_NUMBER: _ClassVar[int]
    ACCOUNT_HOLDER_FIELD_NUMBER: _ClassVar[int]
    method: PaymentMethod
    card_reference: str
    card_last4: str
    iban: str
    account_holder: str
    def __init__(self, method: _Optional[_Union[PaymentMethod, str]] = ..., card_reference: _Optional[str] = ..., card_last4: _Optional[str] = ..., iban: _Optional[str] = ..., account_holder: _Optional[str] = ...) -> None: ...

class AllowanceBalance(_message.Message):
    __slots__ = ("service", "unit", "granted", "used", "period_start", "period_end")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    GRANTED_FIELD_NUMBER: _ClassVar[int]
    USED_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    service: str
    unit: str
    granted: int
    used: int
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    def __init__(self, service: _Optional[str] = ..., unit: _Optional[str] = ..., granted: _Optional[int] = ..., used: _Optional[int] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class Subscriber(_message.Message):
    __slots__ = ("id", "status", "payment_type", "msisdn", "imsi", "handset_imei", "handset_model", "identity_number_masked", "first_name", "last_name", "date_of_birth", "address", "email", "contact_phone", "payment", "price_plan_id", "bill_cycle_id", "balance", "allowances", "activated_at", "terminated_at", "unbilled")
    ID_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    MSISDN_FIELD_NUMBER: _ClassVar[int]
    IMSI_FIELD_NUMBER: _ClassVar[int]
    HANDSET_IMEI_FIELD_NUMBER: _ClassVar[int]
    HANDSET_MODEL_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_NUMBER_MASKED_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    DATE_OF_BIRTH_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CONTACT_PHONE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    PRICE_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    BILL_CYCLE_ID_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    ALLOWANCES_FIELD_NUMBER: _ClassVar[int]
    ACTIVATED_AT_FIELD_NUMBER: _ClassVar[int]
    TERMINATED_AT_FIELD_NUMBER: _ClassVar[int]
    UNBILLED_FIELD_NUMBER: _ClassVar[int]
    id: int
    status: SubscriberStatus
    payment_type: PaymentType
    msisdn: str
    imsi: str
    handset_imei: str
    handset_model: str
    identity_number_masked: str
    first_name: str
    last_name: str
    date_of_birth: Date
    address: Address
    email: str
    contact_phone: str
    payment: PaymentData
    price_plan_id: int
    bill_cycle_id: int
    balance: Money
    allowances: _containers.RepeatedCompositeFieldContainer[AllowanceBalance]
    activated_at: _timestamp_pb2.Timestamp
    terminated_at: _timestamp_pb2.Timestamp
    unbilled: Money
    def __init__(self, id: _Optional[int] = ..., status: _Optional[_Union[SubscriberStatus, str]] = ..., payment_type: _Optional[_Union[PaymentType, str]] = ..., msisdn: _Optional[str] = ..., imsi: _Optional[str] = ..., handset_imei: _Optional[str] = ..., handset_model: _Optional[str] = ..., identity_number_masked: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., date_of_birth: _Optional[_Union[Date, _Mapping]] = ..., address: _Optional[_Union[Address, _Mapping]] = ..., email: _Optional[str] = ..., contact_phone: _Optional[str] = ..., payment: _Optional[_Union[PaymentData, _Mapping]] = ..., price_plan_id: _Optional[int] = ..., bill_cycle_id: _Optional[int] = ..., balance: _Optional[_Union[Money, _Mapping]] = ..., allowances: _Optional[_Iterable[_Union[AllowanceBalance, _Mapping]]] = ..., activated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., terminated_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., unbilled: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Service(_message.Message):
    __slots__ = ("id", "name", "unit")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    id: str
    name: str
    unit: str
    def __init__(self, id: _Optional[str] = ..., name: _Optional[str] = ..., unit: _Optional[str] = ...) -> None: ...

class BillCycle(_message.Message):
    __slots__ = ("id", "name", "cycle_day")
    ID_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    CYCLE_DAY_FIELD_NUMBER: _ClassVar[int]
    id: int
    name: str
    cycle_day: int
    def __init__(self, id: _Optional[int] = ..., name: _Optional[str] = ..., cycle_day: _Optional[int] = ...) -> None: ...

class Tariff(_message.Message):
    __slots__ = ("service", "zone", "band", "strategy", "unit_price", "price_unit", "increment", "minimum_quantity", "minimum_charge")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    STRATEGY_FIELD_NUMBER: _ClassVar[int]
    UNIT_PRICE_FIELD_NUMBER: _ClassVar[int]
    PRICE_UNIT_FIELD_NUMBER: _ClassVar[int]
    INCREMENT_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    MINIMUM_CHARGE_FIELD_NUMBER: _ClassVar[int]
    service: str
    zone: str
    band: str
    strategy: str
    unit_price: Money
    price_unit: int
    increment: int
    minimum_quantity: int
    minimum_charge: Money
    def __init__(self, service: _Optional[str] = ..., zone: _Optional[str] = ..., band: _Optional[str] = ..., strategy: _Optional[str] = ..., unit_price: _Optional[_Union[Money, _Mapping]] = ..., price_unit: _Optional[int] = ..., increment: _Optional[int] = ..., minimum_quantity: _Optional[int] = ..., minimum_charge: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Allowance(_message.Message):
    __slots__ = ("service", "quantity", "zones")
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ZONES_FIELD_NUMBER: _ClassVar[int]
    service: str
    quantity: int
    zones: _containers.RepeatedScalarFieldContainer[str]
    def __init__(self, service: _Optional[str] = ..., quantity: _Optional[int] = ..., zones: _Optional[_Iterable[str]] = ...) -> None: ...

class PricePlan(_message.Message):
    __slots__ = ("id", "code", "name", "payment_type", "currency", "monthly_fee", "initial_credit", "peak_hours", "tariffs", "allowances", "description")
    ID_FIELD_NUMBER: _ClassVar[int]
    CODE_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    MONTHLY_FEE_FIELD_NUMBER: _ClassVar[int]
    INITIAL_CREDIT_FIELD_NUMBER: _ClassVar[int]
    PEAK_HOURS_FIELD_NUMBER: _ClassVar[int]
    TARIFFS_FIELD_NUMBER: _ClassVar[int]
    ALLOWANCES_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    id: int
    code: str
    name: str
    payment_type: PaymentType
    currency: str
    monthly_fee: Money
    initial_credit: Money
    peak_hours: str
    tariffs: _containers.RepeatedCompositeFieldContainer[Tariff]
    allowances: _containers.RepeatedCompositeFieldContainer[Allowance]
    description: str
    def __init__(self, id: _Optional[int] = ..., code: _Optional[str] = ..., name: _Optional[str] = ..., payment_type: _Optional[_Union[PaymentType, str]] = ..., currency: _Optional[str] = ..., monthly_fee: _Optional[_Union[Money, _Mapping]] = ..., initial_credit: _Optional[_Union[Money, _Mapping]] = ..., peak_hours: _Optional[str] = ..., tariffs: _Optional[_Iterable[_Union[Tariff, _Mapping]]] = ..., allowances: _Optional[_Iterable[_Union[Allowance, _Mapping]]] = ..., description: _Optional[str] = ...) -> None: ...

class Voucher(_message.Message):
    __slots__ = ("serial", "batch", "value", "state", "created_at", "expires_at", "state_changed_at", "state_reason", "redeemed_by_subscriber_id", "redeemed_at", "redeemed_by_actor")
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    VALUE_FIELD_NUMBER: _ClassVar[int]
    STATE_FIELD_NUMBER: _ClassVar[int]
    CREATED_AT_FIELD_NUMBER: _ClassVar[int]
    EXPIRES_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_CHANGED_AT_FIELD_NUMBER: _ClassVar[int]
    STATE_REASON_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_BY_SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_AT_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_BY_ACTOR_FIELD_NUMBER: _ClassVar[int]
    serial: str
    batch: str
    value: Money
    state: VoucherState
    created_at: _timestamp_pb2.Timestamp
    expires_at: _timestamp_pb2.Timestamp
    state_changed_at: _timestamp_pb2.Timestamp
    state_reason: str
    redeemed_by_subscriber_id: int
    redeemed_at: _timestamp_pb2.Timestamp
    redeemed_by_actor: str
    def __init__(self, serial: _Optional[str] = ..., batch: _Optional[str] = ..., value: _Optional[_Union[Money, _Mapping]] = ..., state: _Optional[_Union[VoucherState, str]] = ..., created_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., expires_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state_changed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., state_reason: _Optional[str] = ..., redeemed_by_subscriber_id: _Optional[int] = ..., redeemed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., redeemed_by_actor: _Optional[str] = ...) -> None: ...

class RatedCdr(_message.Message):
    __slots__ = ("cdr_id", "service", "started_at", "quantity", "unit", "other_party", "zone", "band", "billable_quantity", "allowance_used", "charge", "flags", "bill_id")
    CDR_ID_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    STARTED_AT_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    OTHER_PARTY_FIELD_NUMBER: _ClassVar[int]
    ZONE_FIELD_NUMBER: _ClassVar[int]
    BAND_FIELD_NUMBER: _ClassVar[int]
    BILLABLE_QUANTITY_FIELD_NUMBER: _ClassVar[int]
    ALLOWANCE_USED_FIELD_NUMBER: _ClassVar[int]
    CHARGE_FIELD_NUMBER: _ClassVar[int]
    FLAGS_FIELD_NUMBER: _ClassVar[int]
    BILL_ID_FIELD_NUMBER: _ClassVar[int]
    cdr_id: str
    service: str
    started_at: _timestamp_pb2.Timestamp
    quantity: int
    unit: str
    other_party: str
    zone: str
    band: str
    billable_quantity: int
    allowance_used: int
    charge: Money
    flags: _containers.RepeatedScalarFieldContainer[str]
    bill_id: int
    def __init__(self, cdr_id: _Optional[str] = ..., service: _Optional[str] = ..., started_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., quantity: _Optional[int] = ..., unit: _Optional[str] = ..., other_party: _Optional[str] = ..., zone: _Optional[str] = ..., band: _Optional[str] = ..., billable_quantity: _Optional[int] = ..., allowance_used: _Optional[int] = ..., charge: _Optional[_Union[Money, _Mapping]] = ..., flags: _Optional[_Iterable[str]] = ..., bill_id: _Optional[int] = ...) -> None: ...

class BillLine(_message.Message):
    __slots__ = ("kind", "description", "service", "quantity", "unit", "amount")
    KIND_FIELD_NUMBER: _ClassVar[int]
    DESCRIPTION_FIELD_NUMBER: _ClassVar[int]
    SERVICE_FIELD_NUMBER: _ClassVar[int]
    QUANTITY_FIELD_NUMBER: _ClassVar[int]
    UNIT_FIELD_NUMBER: _ClassVar[int]
    AMOUNT_FIELD_NUMBER: _ClassVar[int]
    kind: str
    description: str
    service: str
    quantity: int
    unit: str
    amount: Money
    def __init__(self, kind: _Optional[str] = ..., description: _Optional[str] = ..., service: _Optional[str] = ..., quantity: _Optional[int] = ..., unit: _Optional[str] = ..., amount: _Optional[_Union[Money, _Mapping]] = ...) -> None: ...

class Bill(_message.Message):
    __slots__ = ("id", "invoice_number", "subscriber_id", "period_start", "period_end", "issued_at", "net_total", "status", "kind", "lines")
    ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    PERIOD_START_FIELD_NUMBER: _ClassVar[int]
    PERIOD_END_FIELD_NUMBER: _ClassVar[int]
    ISSUED_AT_FIELD_NUMBER: _ClassVar[int]
    NET_TOTAL_FIELD_NUMBER: _ClassVar[int]
    STATUS_FIELD_NUMBER: _ClassVar[int]
    KIND_FIELD_NUMBER: _ClassVar[int]
    LINES_FIELD_NUMBER: _ClassVar[int]
    id: int
    invoice_number: str
    subscriber_id: int
    period_start: _timestamp_pb2.Timestamp
    period_end: _timestamp_pb2.Timestamp
    issued_at: _timestamp_pb2.Timestamp
    net_total: Money
    status: BillStatus
    kind: BillKind
    lines: _containers.RepeatedCompositeFieldContainer[BillLine]
    def __init__(self, id: _Optional[int] = ..., invoice_number: _Optional[str] = ..., subscriber_id: _Optional[int] = ..., period_start: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., period_end: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., issued_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., net_total: _Optional[_Union[Money, _Mapping]] = ..., status: _Optional[_Union[BillStatus, str]] = ..., kind: _Optional[_Union[BillKind, str]] = ..., lines: _Optional[_Iterable[_Union[BillLine, _Mapping]]] = ...) -> None: ...
