"""GetRefData: the read-only reference dictionary."""

from __future__ import annotations

import grpc

from microbss.engine.api import mapper
from microbss.engine.deps import Deps
from microbss.engine.services.refdata import get_ref_data
from microbss.v1 import engine_pb2


class RefDataRpcs:
    deps: Deps

    def GetRefData(
        self, request: engine_pb2.GetRefDataRequest, context: grpc.ServicerContext
    ) -> engine_pb2.RefData:
        return mapper.ref_data_to_pb(get_ref_data(self.deps))
