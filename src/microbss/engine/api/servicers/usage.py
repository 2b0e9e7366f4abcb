"""GetSubscriberUsage: rated CDRs newest first, many rows per stream message."""

from __future__ import annotations

from collections.abc import Iterator

import grpc

from microbss.engine.api import mapper
from microbss.engine.deps import Deps
from microbss.engine.services import usage
from microbss.v1 import engine_pb2


class UsageRpcs:
    deps: Deps

    def GetSubscriberUsage(
        self, request: engine_pb2.GetSubscriberUsageRequest, context: grpc.ServicerContext
    ) -> Iterator[engine_pb2.UsageChunk]:
        query = usage.usage_query(
            self.deps,
            request.subscriber_id,
            mapper.instant_or_none(getattr(request, "from"), request.HasField("from")),
            mapper.instant_or_none(request.to, request.HasField("to")),
            request.rows_per_message,
        )
        for chunk in usage.stream_usage(self.deps, query):
            yield mapper.usage_chunk_to_pb(chunk)
