"""`microbss grpc ...`: a generic gRPC client driven only by server reflection.

It proves the engine can be driven by any reflection-based tool (grpcurl, grpcui, Postman) and is
handy where none is installed:

    microbss grpc list
    microbss grpc describe microbss.v1.Engine
    microbss grpc call microbss.v1.Engine/GetAvailableResources '{"type": "MSISDN"}'

Options: --addr (default MICROBSS_ENGINE_LISTEN or 127.0.0.1:50051), -H 'key: value' metadata
(e.g. -H 'authorization: Bearer TOKEN', -H 'x-actor: alice'). Requests and replies are JSON
(proto3 JSON mapping: int64 values print as strings); streamed replies print one JSON per message.
"""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Iterator

import grpc
from google.protobuf import descriptor_pool, json_format, message_factory
from google.protobuf.descriptor import MethodDescriptor
from grpc_reflection.v1alpha.proto_reflection_descriptor_database import (
    ProtoReflectionDescriptorDatabase,
)


def _pool(
    channel: grpc.Channel,
) -> tuple[ProtoReflectionDescriptorDatabase, descriptor_pool.DescriptorPool]:
    database = ProtoReflectionDescriptorDatabase(channel)
    return database, descriptor_pool.DescriptorPool(database)


def _find_method(pool: descriptor_pool.DescriptorPool, full_method: str) -> MethodDescriptor:
    service_name, _, method_name = full_method.replace("/", ".").rpartition(".")
    service = pool.FindServiceByName(service_name)
    method = service.methods_by_name.get(method_name)
    if method is None:
        raise SystemExit(f"error: {service_name} has no method {method_name}")
    return method


def _call(
    channel: grpc.Channel, method: MethodDescriptor, body: str, metadata: list[tuple[str, str]]
) -> Iterator[str]:
    request_cls = message_factory.GetMessageClass(method.input_type)
    reply_cls = message_factory.GetMessageClass(method.output_type)
    request = json_format.Parse(body or "{}", request_cls())
    path = f"/{method.containing_service.full_name}/{method.name}"
    kwargs = {
        "request_serializer": request_cls.SerializeToString,
        "response_deserializer": reply_cls.FromString,
    }
    if method.server_streaming:
        replies = channel.unary_stream(path, **kwargs)(request, metadata=metadata, timeout=60)
    else:
        replies = [channel.unary_unary(path, **kwargs)(request, metadata=metadata, timeout=30)]
    for reply in replies:
        yield json_format.MessageToJson(reply, preserving_proto_field_name=True, indent=2)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="microbss grpc", description=__doc__.split("\n")[0])
    parser.add_argument(
        "--addr", default=os.environ.get("MICROBSS_ENGINE_LISTEN", "127.0.0.1:50051")
    )
    parser.add_argument("-H", dest="headers", action="append", default=[], metavar="'KEY: VALUE'")
    sub = parser.add_subparsers(dest="verb", required=True)
    sub.add_parser("list", help="services, or the methods of one service").add_argument(
        "service", nargs="?"
    )
    sub.add_parser("describe", help="a service, method or message").add_argument("symbol")
    call = sub.add_parser("call", help="call a method with a JSON request")
    call.add_argument("method", help="e.g. microbss.v1.Engine/GetRefData")
    call.add_argument("body", nargs="?", default="{}", help="JSON request ('-' reads stdin)")
    args = parser.parse_args(argv)
    metadata = [
        (k.strip().lower(), v.strip()) for k, _, v in (h.partition(":") for h in args.headers)
    ]

    with grpc.insecure_channel(args.addr) as channel:
        database, pool = _pool(channel)
        try:
            if args.verb == "list":
                if args.service:
                    for method in pool.FindServiceByName(args.service).methods:
                        stream = "stream " if method.server_streaming else ""
                        print(
                            f"{args.service}.{method.name}({method.input_type.name}) "
                            f"returns ({stream}{method.output_type.name})"
                        )
                else:
                    print("\n".join(database.get_services()))
            elif args.verb == "describe":
                symbol = pool.FindSymbol(args.symbol) if hasattr(pool, "FindSymbol") else None
                symbol = symbol or database.FindFileContainingSymbol(args.symbol)
                print(symbol)
            else:
                body = sys.stdin.read() if args.body == "-" else args.body
                for reply in _call(channel, _find_method(pool, args.method), body, metadata):
                    print(reply)
        except grpc.RpcError as err:
            print(f"error: {err.code().name}: {err.details()}", file=sys.stderr)  # type: ignore[attr-defined]
            return 1
        except (KeyError, json_format.ParseError) as err:
            print(f"error: {err}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main())
