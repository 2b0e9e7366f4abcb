"""Billing RPCs: GetSubscriberBills, ExecuteBilling, GetInvoice, TerminateSubscriber.

GetInvoice streams the PDF the engine finds from the bill row (never a path from the request) in
64 KiB chunks; the first chunk carries the file name, content type and total size.
"""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from microbss.engine.api import mapper
from microbss.engine.deps import Deps
from microbss.engine.services import billing, subscribers
from microbss.engine.services.context import current_actor
from microbss.v1 import engine_pb2, types_pb2

PDF_CONTENT_TYPE = "application/pdf"


class BillingRpcs:
    deps: Deps

    def GetSubscriberBills(
        self, request: engine_pb2.GetSubscriberBillsRequest, context: grpc.ServicerContext
    ) -> Iterator[types_pb2.Bill]:
        for bill in billing.subscriber_bills(self.deps, request.subscriber_id):
            yield mapper.bill_to_pb(bill)

    def ExecuteBilling(
        self, request: engine_pb2.ExecuteBillingRequest, context: grpc.ServicerContext
    ) -> engine_pb2.ExecuteBillingResponse:
        bill = billing.execute_billing(self.deps, current_actor(), request.subscriber_id)
        return mapper.execute_billing_to_pb(bill)

    def GetInvoice(
        self, request: engine_pb2.GetInvoiceRequest, context: grpc.ServicerContext
    ) -> Iterator[engine_pb2.InvoiceChunk]:
        invoice = billing.invoice_file(self.deps, request.bill_id)
        with invoice.path.open("rb") as handle:
            first = True
            while chunk := handle.read(billing.INVOICE_CHUNK_BYTES):
                if first:
                    yield engine_pb2.InvoiceChunk(
                        data=chunk,
                        file_name=invoice.file_name,
                        content_type=PDF_CONTENT_TYPE,
                        total_size=invoice.size,
                    )
                    first = False
                else:
                    yield engine_pb2.InvoiceChunk(data=chunk)

    def TerminateSubscriber(
        self, request: engine_pb2.TerminateSubscriberRequest, context: grpc.ServicerContext
    ) -> engine_pb2.TerminateSubscriberResponse:
        termination = billing.terminate_subscriber(
            self.deps, current_actor(), request.subscriber_id, request.reason
        )
        view = subscribers.get_subscriber(self.deps, subscriber_id=termination.subscriber_id)
        return mapper.termination_to_pb(
            view, termination.final_bill, termination.msisdn_available_at
        )
