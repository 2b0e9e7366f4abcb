"""CreateSubscriber, GetSubscriber, SearchSubscribers."""

from __future__ import annotations

import grpc

from microbss.engine.api import mapper
from microbss.engine.deps import Deps
from microbss.engine.services import subscribers
from microbss.engine.services.context import current_actor
from microbss.v1 import engine_pb2, types_pb2


class SubscriberRpcs:
    deps: Deps

    def CreateSubscriber(
        self, request: engine_pb2.CreateSubscriberRequest, context: grpc.ServicerContext
    ) -> types_pb2.Subscriber:
        view = subscribers.create_subscriber(
            self.deps, current_actor(), mapper.new_subscriber_from_pb(request)
        )
        return mapper.subscriber_to_pb(view)

    def GetSubscriber(
        self, request: engine_pb2.GetSubscriberRequest, context: grpc.ServicerContext
    ) -> types_pb2.Subscriber:
        key = request.WhichOneof("key")
        view = subscribers.get_subscriber(
            self.deps,
            subscriber_id=request.subscriber_id if key == "subscriber_id" else None,
            msisdn=request.msisdn if key == "msisdn" else None,
        )
        return mapper.subscriber_to_pb(view)

    def SearchSubscribers(
        self, request: engine_pb2.SearchSubscribersRequest, context: grpc.ServicerContext
    ) -> engine_pb2.SearchSubscribersResponse:
        page = subscribers.search_subscribers(
            self.deps,
            mapper.subscriber_query_from_pb(request),
            mapper.page_request_from_pb(request.page),
        )
        return mapper.search_result_to_pb(page)
