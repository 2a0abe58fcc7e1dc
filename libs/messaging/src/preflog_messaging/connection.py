"""Connecting to NATS and declaring the event stream."""

from __future__ import annotations

import nats
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

log = structlog.get_logger(__name__)


def events_stream(namespace: str) -> str:
    return f"{namespace.upper().replace('.', '_').replace('-', '_')}_EVENTS"


async def delete_namespace_streams(js: JetStreamContext, namespace: str) -> None:
    """Delete a namespace's streams (events, and export feeds where export ran). For tests
    and benches, whose throw-away namespaces otherwise pile up on the NATS server's disk."""
    prefix = events_stream(namespace).removesuffix("EVENTS")
    for suffix in ("EVENTS", "EXPORTS"):
        try:
            await js.delete_stream(prefix + suffix)
        except NotFoundError:
            continue


def events_subjects(namespace: str) -> str:
    return f"{namespace}.events.>"


async def connect(url: str, *, name: str = "preflog") -> Client:
    """Connect with endless reconnects: a NATS restart is an outage, not a crash."""

    async def on_error(exc: Exception) -> None:
        log.warning("nats.error", error=repr(exc))

    connected: list[Client] = []

    async def on_disconnected() -> None:
        if connected and connected[0].is_closed:
            return  # our own close at shutdown, not an outage
        log.warning("nats.disconnected")

    async def on_reconnected() -> None:
        log.info("nats.reconnected")

    client = await nats.connect(
        url,
        name=name,
        max_reconnect_attempts=-1,
        reconnect_time_wait=0.5,
        error_cb=on_error,
        disconnected_cb=on_disconnected,
        reconnected_cb=on_reconnected,
    )
    connected.append(client)
    return client


async def ensure_events_stream(
    js: JetStreamContext,
    namespace: str,
    *,
    replicas: int = 1,
    duplicate_window_seconds: float = 7200.0,
    max_age_seconds: float = 30 * 86400.0,
) -> str:
    """Create (or leave as is) the stream holding every relayed event; returns its name.

    The duplicate window must outlast the longest relay outage we tolerate, since a relay
    that restarts republishes from its checkpoint (see docs/adr).
    """
    name = events_stream(namespace)
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=name,
                subjects=[events_subjects(namespace)],
                storage=StorageType.FILE,
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                num_replicas=replicas,
                duplicate_window=duplicate_window_seconds,
                max_age=max_age_seconds,
            )
        )
    return name
