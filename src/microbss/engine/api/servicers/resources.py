"""GetAvailableResources: the inventory a CSR picks from."""

from __future__ import annotations

import grpc

from microbss.engine.api import mapper
from microbss.engine.deps import Deps
from microbss.engine.services.resources import available_resources
from microbss.v1 import engine_pb2


class ResourceRpcs:
    deps: Deps

    def GetAvailableResources(
        self, request: engine_pb2.GetAvailableResourcesRequest, context: grpc.ServicerContext
    ) -> engine_pb2.GetAvailableResourcesResponse:
        page = available_resources(
            self.deps,
            mapper.resource_type_from_pb(request.type),
            request.prefix,
            mapper.page_request_from_pb(request.page),
        )
        return mapper.available_resources_to_pb(page)
