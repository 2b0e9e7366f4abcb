"""The Engine servicer: one class composed of per-area mixins, each a set of thin RPC methods
(map the request, call a service function, map the result). Errors are raised as DomainError and
mapped to status codes by the interceptor, never handled here."""

from __future__ import annotations

from microbss.engine.api.servicers.billing import BillingRpcs
from microbss.engine.api.servicers.refdata import RefDataRpcs
from microbss.engine.api.servicers.resources import ResourceRpcs
from microbss.engine.api.servicers.subscribers import SubscriberRpcs
from microbss.engine.api.servicers.usage import UsageRpcs
from microbss.engine.api.servicers.vouchers import VoucherRpcs
from microbss.engine.deps import Deps
from microbss.v1 import engine_pb2_grpc


class EngineServicer(
    ResourceRpcs,
    SubscriberRpcs,
    RefDataRpcs,
    VoucherRpcs,
    UsageRpcs,
    BillingRpcs,
    engine_pb2_grpc.EngineServicer,
):
    def __init__(self, deps: Deps) -> None:
        self.deps = deps
