import datetime

from google.protobuf import timestamp_pb2 as _timestamp_pb2
from microbss.v1 import types_pb2 as _types_pb2
from google.protobuf.internal import containers as _containers
from google.protobuf import descriptor as _descriptor
from google.protobuf import message as _message
from collections.abc import Iterable as _Iterable, Mapping as _Mapping
from typing import ClassVar as _ClassVar, Optional as _Optional, Union as _Union

DESCRIPTOR: _descriptor.FileDescriptor

class GetAvailableResourcesRequest(_message.Message):
    __slots__ = ("type", "page", "prefix")
    TYPE_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    PREFIX_FIELD_NUMBER: _ClassVar[int]
    type: _types_pb2.ResourceType
    page: _types_pb2.PageRequest
    prefix: str
    def __init__(self, type: _Optional[_Union[_types_pb2.ResourceType, str]] = ..., page: _Optional[_Union[_types_pb2.PageRequest, _Mapping]] = ..., prefix: _Optional[str] = ...) -> None: ...

class GetAvailableResourcesResponse(_message.Message):
    __slots__ = ("resources", "page")
    RESOURCES_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    resources: _containers.RepeatedCompositeFieldContainer[_types_pb2.Resource]
    page: _types_pb2.PageInfo
    def __init__(self, resources: _Optional[_Iterable[_Union[_types_pb2.Resource, _Mapping]]] = ..., page: _Optional[_Union[_types_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class CreateSubscriberRequest(_message.Message):
    __slots__ = ("msisdn", "imsi", "handset_imei", "identity_number", "first_name", "last_name", "date_of_birth", "address", "email", "contact_phone", "payment", "payment_type", "price_plan_id", "bill_cycle_id")
    MSISDN_FIELD_NUMBER: _ClassVar[int]
    IMSI_FIELD_NUMBER: _ClassVar[int]
    HANDSET_IMEI_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_NUMBER_FIELD_NUMBER: _ClassVar[int]
    FIRST_NAME_FIELD_NUMBER: _ClassVar[int]
    LAST_NAME_FIELD_NUMBER: _ClassVar[int]
    DATE_OF_BIRTH_FIELD_NUMBER: _ClassVar[int]
    ADDRESS_FIELD_NUMBER: _ClassVar[int]
    EMAIL_FIELD_NUMBER: _ClassVar[int]
    CONTACT_PHONE_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_FIELD_NUMBER: _ClassVar[int]
    PAYMENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    PRICE_PLAN_ID_FIELD_NUMBER: _ClassVar[int]
    BILL_CYCLE_ID_FIELD_NUMBER: _ClassVar[int]
    msisdn: str
    imsi: str
    handset_imei: str
    identity_number: str
    first_name: str
    last_name: str
    date_of_birth: _types_pb2.Date
    address: _types_pb2.Address
    email: str
    contact_phone: str
    payment: _types_pb2.PaymentData
    payment_type: _types_pb2.PaymentType
    price_plan_id: int
    bill_cycle_id: int
    def __init__(self, msisdn: _Optional[str] = ..., imsi: _Optional[str] = ..., handset_imei: _Optional[str] = ..., identity_number: _Optional[str] = ..., first_name: _Optional[str] = ..., last_name: _Optional[str] = ..., date_of_birth: _Optional[_Union[_types_pb2.Date, _Mapping]] = ..., address: _Optional[_Union[_types_pb2.Address, _Mapping]] = ..., email: _Optional[str] = ..., contact_phone: _Optional[str] = ..., payment: _Optional[_Union[_types_pb2.PaymentData, _Mapping]] = ..., payment_type: _Optional[_Union[_types_pb2.PaymentType, str]] = ..., price_plan_id: _Optional[int] = ..., bill_cycle_id: _Optional[int] = ...) -> None: ...

class GetSubscriberRequest(_message.Message):
    __slots__ = ("subscriber_id", "msisdn")
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    MSISDN_FIELD_NUMBER: _ClassVar[int]
    subscriber_id: int
    msisdn: str
    def __init__(self, subscriber_id: _Optional[int] = ..., msisdn: _Optional[str] = ...) -> None: ...

class SearchSubscribersRequest(_message.Message):
    __slots__ = ("msisdn", "imsi", "name", "identity_last_digits", "include_terminated", "page")
    MSISDN_FIELD_NUMBER: _ClassVar[int]
    IMSI_FIELD_NUMBER: _ClassVar[int]
    NAME_FIELD_NUMBER: _ClassVar[int]
    IDENTITY_LAST_DIGITS_FIELD_NUMBER: _ClassVar[int]
    INCLUDE_TERMINATED_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    msisdn: str
    imsi: str
    name: str
    identity_last_digits: str
    include_terminated: bool
    page: _types_pb2.PageRequest
    def __init__(self, msisdn: _Optional[str] = ..., imsi: _Optional[str] = ..., name: _Optional[str] = ..., identity_last_digits: _Optional[str] = ..., include_terminated: _Optional[bool] = ..., page: _Optional[_Union[_types_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class SearchSubscribersResponse(_message.Message):
    __slots__ = ("subscribers", "page")
    SUBSCRIBERS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    subscribers: _containers.RepeatedCompositeFieldContainer[_types_pb2.Subscriber]
    page: _types_pb2.PageInfo
    def __init__(self, subscribers: _Optional[_Iterable[_Union[_types_pb2.Subscriber, _Mapping]]] = ..., page: _Optional[_Union[_types_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class GetRefDataRequest(_message.Message):
    __slots__ = ()
    def __init__(self) -> None: ...

class RefData(_message.Message):
    __slots__ = ("price_plans", "services", "bill_cycles", "operator_name", "operator_time_zone", "currency")
    PRICE_PLANS_FIELD_NUMBER: _ClassVar[int]
    SERVICES_FIELD_NUMBER: _ClassVar[int]
    BILL_CYCLES_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_NAME_FIELD_NUMBER: _ClassVar[int]
    OPERATOR_TIME_ZONE_FIELD_NUMBER: _ClassVar[int]
    CURRENCY_FIELD_NUMBER: _ClassVar[int]
    price_plans: _containers.RepeatedCompositeFieldContainer[_types_pb2.PricePlan]
    services: _containers.RepeatedCompositeFieldContainer[_types_pb2.Service]
    bill_cycles: _containers.RepeatedCompositeFieldContainer[_types_pb2.BillCycle]
    operator_name: str
    operator_time_zone: str
    currency: str
    def __init__(self, price_plans: _Optional[_Iterable[_Union[_types_pb2.PricePlan, _Mapping]]] = ..., services: _Optional[_Iterable[_Union[_types_pb2.Service, _Mapping]]] = ..., bill_cycles: _Optional[_Iterable[_Union[_types_pb2.BillCycle, _Mapping]]] = ..., operator_name: _Optional[str] = ..., operator_time_zone: _Optional[str] = ..., currency: _Optional[str] = ...) -> None: ...

class SelectVouchersRequest(_message.Message):
    __slots__ = ("state", "batch", "serial", "page")
    STATE_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    state: _types_pb2.VoucherState
    batch: str
    serial: str
    page: _types_pb2.PageRequest
    def __init__(self, state: _Optional[_Union[_types_pb2.VoucherState, str]] = ..., batch: _Optional[str] = ..., serial: _Optional[str] = ..., page: _Optional[_Union[_types_pb2.PageRequest, _Mapping]] = ...) -> None: ...

class SelectVouchersResponse(_message.Message):
    __slots__ = ("vouchers", "page")
    VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    PAGE_FIELD_NUMBER: _ClassVar[int]
    vouchers: _containers.RepeatedCompositeFieldContainer[_types_pb2.Voucher]
    page: _types_pb2.PageInfo
    def __init__(self, vouchers: _Optional[_Iterable[_Union[_types_pb2.Voucher, _Mapping]]] = ..., page: _Optional[_Union[_types_pb2.PageInfo, _Mapping]] = ...) -> None: ...

class UpdateVoucherStateRequest(_message.Message):
    __slots__ = ("serial", "batch", "new_state", "reason")
    SERIAL_FIELD_NUMBER: _ClassVar[int]
    BATCH_FIELD_NUMBER: _ClassVar[int]
    NEW_STATE_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    serial: str
    batch: str
    new_state: _types_pb2.VoucherState
    reason: str
    def __init__(self, serial: _Optional[str] = ..., batch: _Optional[str] = ..., new_state: _Optional[_Union[_types_pb2.VoucherState, str]] = ..., reason: _Optional[str] = ...) -> None: ...

class UpdateVoucherStateResponse(_message.Message):
    __slots__ = ("updated_count", "vouchers")
    UPDATED_COUNT_FIELD_NUMBER: _ClassVar[int]
    VOUCHERS_FIELD_NUMBER: _ClassVar[int]
    updated_count: int
    vouchers: _containers.RepeatedCompositeFieldContainer[_types_pb2.Voucher]
    def __init__(self, updated_count: _Optional[int] = ..., vouchers: _Optional[_Iterable[_Union[_types_pb2.Voucher, _Mapping]]] = ...) -> None: ...

class RedeemVoucherRequest(_message.Message):
    __slots__ = ("subscriber_id", "pin")
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    PIN_FIELD_NUMBER: _ClassVar[int]
    subscriber_id: int
    pin: str
    def __init__(self, subscriber_id: _Optional[int] = ..., pin: _Optional[str] = ...) -> None: ...

class RedeemVoucherResponse(_message.Message):
    __slots__ = ("voucher_serial", "credited", "balance", "redeemed_at")
    VOUCHER_SERIAL_FIELD_NUMBER: _ClassVar[int]
    CREDITED_FIELD_NUMBER: _ClassVar[int]
    BALANCE_FIELD_NUMBER: _ClassVar[int]
    REDEEMED_AT_FIELD_NUMBER: _ClassVar[int]
    voucher_serial: str
    credited: _types_pb2.Money
    balance: _types_pb2.Money
    redeemed_at: _timestamp_pb2.Timestamp
    def __init__(self, voucher_serial: _Optional[str] = ..., credited: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., balance: _Optional[_Union[_types_pb2.Money, _Mapping]] = ..., redeemed_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...

class GetSubscriberUsageRequest(_message.Message):
    __slots__ = ("subscriber_id", "to", "rows_per_message")
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    FROM_FIELD_NUMBER: _ClassVar[int]
    TO_FIELD_NUMBER: _ClassVar[int]
    ROWS_PER_MESSAGE_FIELD_NUMBER: _ClassVar[int]
    subscriber_id: int
    to: _timestamp_pb2.Timestamp
    rows_per_message: int
    def __init__(self, subscriber_id: _Optional[int] = ..., to: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ..., rows_per_message: _Optional[int] = ..., **kwargs) -> None: ...

class UsageChunk(_message.Message):
    __slots__ = ("cdrs",)
    CDRS_FIELD_NUMBER: _ClassVar[int]
    cdrs: _containers.RepeatedCompositeFieldContainer[_types_pb2.RatedCdr]
    def __init__(self, cdrs: _Optional[_Iterable[_Union[_types_pb2.RatedCdr, _Mapping]]] = ...) -> None: ...

class GetSubscriberBillsRequest(_message.Message):
    __slots__ = ("subscriber_id",)
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    subscriber_id: int
    def __init__(self, subscriber_id: _Optional[int] = ...) -> None: ...

class ExecuteBillingRequest(_message.Message):
    __slots__ = ("subscriber_id",)
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    subscriber_id: int
    def __init__(self, subscriber_id: _Optional[int] = ...) -> None: ...

class ExecuteBillingResponse(_message.Message):
    __slots__ = ("ack", "bill_id", "invoice_number", "net_total")
    ACK_FIELD_NUMBER: _ClassVar[int]
    BILL_ID_FIELD_NUMBER: _ClassVar[int]
    INVOICE_NUMBER_FIELD_NUMBER: _ClassVar[int]
    NET_TOTAL_FIELD_NUMBER: _ClassVar[int]
    ack: _types_pb2.Ack
    bill_id: int
    invoice_number: str
    net_total: _types_pb2.Money
    def __init__(self, ack: _Optional[_Union[_types_pb2.Ack, str]] = ..., bill_id: _Optional[int] = ..., invoice_number: _Optional[str] = ..., net_total: _Optional[_Union[_types_pb2.Money, _Mapping]] = ...) -> None: ...

class GetInvoiceRequest(_message.Message):
    __slots__ = ("bill_id",)
    BILL_ID_FIELD_NUMBER: _ClassVar[int]
    bill_id: int
    def __init__(self, bill_id: _Optional[int] = ...) -> None: ...

class InvoiceChunk(_message.Message):
    __slots__ = ("data", "file_name", "content_type", "total_size")
    DATA_FIELD_NUMBER: _ClassVar[int]
    FILE_NAME_FIELD_NUMBER: _ClassVar[int]
    CONTENT_TYPE_FIELD_NUMBER: _ClassVar[int]
    TOTAL_SIZE_FIELD_NUMBER: _ClassVar[int]
    data: bytes
    file_name: str
    content_type: str
    total_size: int
    def __init__(self, data: _Optional[bytes] = ..., file_name: _Optional[str] = ..., content_type: _Optional[str] = ..., total_size: _Optional[int] = ...) -> None: ...

class TerminateSubscriberRequest(_message.Message):
    __slots__ = ("subscriber_id", "reason")
    SUBSCRIBER_ID_FIELD_NUMBER: _ClassVar[int]
    REASON_FIELD_NUMBER: _ClassVar[int]
    subscriber_id: int
    reason: str
    def __init__(self, subscriber_id: _Optional[int] = ..., reason: _Optional[str] = ...) -> None: ...

class TerminateSubscriberResponse(_message.Message):
    __slots__ = ("subscriber", "final_bill", "msisdn_available_at")
    SUBSCRIBER_FIELD_NUMBER: _ClassVar[int]
    FINAL_BILL_FIELD_NUMBER: _ClassVar[int]
    MSISDN_AVAILABLE_AT_FIELD_NUMBER: _ClassVar[int]
    subscriber: _types_pb2.Subscriber
    final_bill: _types_pb2.Bill
    msisdn_available_at: _timestamp_pb2.Timestamp
    def __init__(self, subscriber: _Optional[_Union[_types_pb2.Subscriber, _Mapping]] = ..., final_bill: _Optional[_Union[_types_pb2.Bill, _Mapping]] = ..., msisdn_available_at: _Optional[_Union[datetime.datetime, _timestamp_pb2.Timestamp, _Mapping]] = ...) -> None: ...
