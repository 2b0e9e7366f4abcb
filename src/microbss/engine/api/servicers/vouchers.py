"""SelectVouchers, UpdateVoucherState, RedeemVoucher."""

from __future__ import annotations

import grpc

from microbss.engine.api import mapper
from microbss.engine.deps import Deps
from microbss.engine.services import vouchers
from microbss.engine.services.context import current_actor
from microbss.v1 import engine_pb2


class VoucherRpcs:
    deps: Deps

    def SelectVouchers(
        self, request: engine_pb2.SelectVouchersRequest, context: grpc.ServicerContext
    ) -> engine_pb2.SelectVouchersResponse:
        page = vouchers.select_vouchers(
            self.deps,
            mapper.voucher_state_from_pb(request.state),
            request.batch,
            request.serial,
            mapper.page_request_from_pb(request.page),
        )
        return mapper.vouchers_to_pb(page)

    def UpdateVoucherState(
        self, request: engine_pb2.UpdateVoucherStateRequest, context: grpc.ServicerContext
    ) -> engine_pb2.UpdateVoucherStateResponse:
        target = request.WhichOneof("target")
        change = vouchers.update_voucher_state(
            self.deps,
            current_actor(),
            serial=request.serial if target == "serial" else "",
            batch=request.batch if target == "batch" else "",
            new_state=mapper.voucher_state_from_pb(request.new_state, "new_state"),
            reason=request.reason,
        )
        return engine_pb2.UpdateVoucherStateResponse(
            updated_count=change.updated_count,
            vouchers=[mapper.voucher_to_pb(v) for v in change.vouchers],
        )

    def RedeemVoucher(
        self, request: engine_pb2.RedeemVoucherRequest, context: grpc.ServicerContext
    ) -> engine_pb2.RedeemVoucherResponse:
        redemption = vouchers.redeem_voucher(
            self.deps, current_actor(), context.peer() or "", request.subscriber_id, request.pin
        )
        return mapper.redemption_to_pb(redemption)
