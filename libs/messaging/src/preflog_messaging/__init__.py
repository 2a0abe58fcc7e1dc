"""Messaging over NATS: the events stream, the consumer loop, and service calls."""

from __future__ import annotations

from preflog_messaging.connection import (
    connect,
    delete_namespace_streams,
    ensure_events_stream,
    events_stream,
)
from preflog_messaging.consumer import EventConsumer, NotYet
from preflog_messaging.idempotency import once_per_key
from preflog_messaging.rpc import CallContext, RpcClient, RpcServer, rpc_subject, scoped_key

__all__ = [
    "CallContext",
    "EventConsumer",
    "NotYet",
    "RpcClient",
    "RpcServer",
    "connect",
    "delete_namespace_streams",
    "ensure_events_stream",
    "events_stream",
    "once_per_key",
    "rpc_subject",
    "scoped_key",
]
