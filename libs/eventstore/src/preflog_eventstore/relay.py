"""The relay: publishes committed events from the log to JetStream (the log is the outbox).

One leader at a time (a Postgres advisory lock held on the relay's own connection). It reads
with the gap-safe cursor, publishes each event to ``<ns>.events.<category>.<EventType>`` with
``Nats-Msg-Id = event_id``, and moves its checkpoint only after every publish in the batch is
acknowledged. A crash republishes from the checkpoint; JetStream's duplicate window and the
consumers' inboxes absorb the repeats. After a NATS outage it retries until it gets through.

The leader also marks, every few seconds, where in the log the time is (``mark_time``), for
audit queries from a time, and thins the old marks hourly (``thin_time_marks``). It also
deletes idempotency keys past their window (``prune_idempotency_keys``), a batch at a time.
"""

from __future__ import annotations

import asyncio
import time
import zlib
from datetime import UTC, datetime

import msgspec
import structlog
from nats.aio.client import Client
from nats.aio.msg import Msg
from nats.aio.subscription import Subscription

from preflog_contracts.envelope import RecordedEvent
from preflog_eventstore.conn import Conn
from preflog_eventstore.db import unlock_advisory
from preflog_eventstore.projections import sleep_or_stop, wait_for_appends
from preflog_eventstore.store import (
    EventStore,
    load_checkpoint,
    mark_time,
    prune_idempotency_keys,
    save_checkpoint,
    thin_time_marks,
)
from preflog_observability.metrics import RELAY_LAG_SECONDS, RELAY_PUBLISHED

log = structlog.get_logger(__name__)
_encoder = msgspec.json.Encoder()


def event_subject(namespace: str, event: RecordedEvent) -> str:
    return f"{namespace}.events.{event.category}.{event.event_type}"


def encode_recorded(event: RecordedEvent) -> bytes:
    return _encoder.encode(event)


class PublishFailed(Exception):
    """JetStream refused or did not acknowledge a publish."""


class _PipelinedPublisher:
    """Publishes many messages to JetStream before awaiting their acks.

    nats-py's ``publish_async`` yields to the event loop on every message (``wait_for`` around
    its semaphore), so each one leaves in its own socket write; plain ``publish`` calls only
    fill the client's buffer. Acks come back on one wildcard inbox subscription.
    """

    def __init__(self, nc: Client) -> None:
        self.nc = nc
        self.prefix = nc.new_inbox()
        self._pending: dict[str, asyncio.Future[None]] = {}
        self._sub: Subscription | None = None
        self._counter = 0

    async def _ensure_subscribed(self) -> None:
        if self._sub is None:
            self._sub = await self.nc.subscribe(f"{self.prefix}.*", cb=self._on_ack)

    async def _on_ack(self, msg: Msg) -> None:
        future = self._pending.pop(msg.subject.rsplit(".", 1)[-1], None)
        if future is None or future.done():
            return
        status = (msg.headers or {}).get("Status")
        if status or not msg.data:
            future.set_exception(PublishFailed(f"no stream answered (status {status})"))
            return
        ack = msgspec.json.decode(msg.data)
        if "error" in ack:
            future.set_exception(PublishFailed(str(ack["error"])))
        else:
            future.set_result(None)

    async def publish_all(
        self, messages: list[tuple[str, bytes, dict[str, str]]], timeout: float
    ) -> None:
        """Publish every message and return once all are acknowledged (or raise)."""
        await self._ensure_subscribed()
        loop = asyncio.get_running_loop()
        futures = []
        for subject, payload, headers in messages:
            self._counter += 1
            token = str(self._counter)
            future: asyncio.Future[None] = loop.create_future()
            self._pending[token] = future
            futures.append(future)
            await self.nc.publish(subject, payload, reply=f"{self.prefix}.{token}", headers=headers)
        try:
            await asyncio.wait_for(asyncio.gather(*futures), timeout)
        finally:
            for token in [t for t, f in self._pending.items() if f in futures]:
                self._pending.pop(token, None)


class Relay:
    def __init__(
        self,
        store: EventStore,
        nc: Client,
        *,
        namespace: str,
        batch_size: int = 2000,
        poll_interval: float = 0.02,
        publish_timeout: float = 5.0,
        coalesce_seconds: float = 0.005,
        mark_interval: float = 5.0,
        thin_interval: float = 3600.0,
        prune_interval: float = 600.0,
        prune_batch: int = 1000,
    ) -> None:
        self.store = store
        self.nc = nc
        self.namespace = namespace
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.coalesce_seconds = coalesce_seconds
        self.mark_interval = mark_interval
        """How often the leader marks where in the log the time is (audit queries from a
        time read from the last mark before it: at most this long of the log too much)."""
        self.thin_interval = thin_interval
        """How often the leader thins the old marks (``thin_time_marks``)."""
        self.prune_interval = prune_interval
        """How often the leader deletes expired idempotency keys; while a batch comes back
        full, it deletes the next one on its next round instead (a key lives at most its
        window and about this long)."""
        self.prune_batch = prune_batch
        self.checkpoint_name = f"relay:{namespace}"
        self.lock_key = zlib.crc32(self.checkpoint_name.encode())
        self._wake = asyncio.Event()
        store.on_append.append(lambda _categories: self._wake.set())
        self.is_leader = False
        self._publisher = _PipelinedPublisher(nc)

    async def relay_once(self, conn: Conn) -> int:
        """Publish one batch and move the checkpoint after all acks; returns the count."""
        cursor = await load_checkpoint(conn, self.checkpoint_name)
        events = await self.store.read_all(cursor, limit=self.batch_size, conn=conn)
        if not events:
            return 0
        await self._publisher.publish_all(
            [
                (event_subject(self.namespace, e), encode_recorded(e), {"Nats-Msg-Id": e.event_id})
                for e in events
            ],
            self.publish_timeout,
        )
        await save_checkpoint(conn, self.checkpoint_name, events[-1].cursor)
        RELAY_PUBLISHED.inc(len(events))
        RELAY_LAG_SECONDS.set(max(time.time() - events[-1].recorded_at.timestamp(), 0.0))
        return len(events)

    async def run(self, stop: asyncio.Event) -> None:
        """Compete for leadership, then relay until ``stop``; standbys retry the lock."""
        while not stop.is_set():
            try:
                async with self.store.pool.acquire() as conn:
                    got = await conn.fetchval("select pg_try_advisory_lock($1)", self.lock_key)
                    if not got:
                        await sleep_or_stop(stop, 1.0)
                        continue
                    self.is_leader = True
                    try:
                        await self._lead(conn, stop)
                    finally:
                        self.is_leader = False
                        await unlock_advisory(conn, self.lock_key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, Postgres restart: log, back off, retry
                log.warning("relay.retry", error=repr(exc))
                await sleep_or_stop(stop, 0.5)

    async def _lead(self, conn: Conn, stop: asyncio.Event) -> None:
        marked, position, thinned = -self.mark_interval, None, -self.thin_interval
        pruned = -self.prune_interval
        while not stop.is_set():
            if time.monotonic() - marked >= self.mark_interval:
                position = await mark_time(conn, unless_at=position)
                marked = time.monotonic()
            if time.monotonic() - thinned >= self.thin_interval:
                await thin_time_marks(conn, datetime.now(UTC))
                thinned = time.monotonic()
            if time.monotonic() - pruned >= self.prune_interval:
                # One batch per round, between relay batches: a backlog of keys (a day's
                # worth after a long stop) delays publishing by one short delete at a time.
                full = await prune_idempotency_keys(conn, self.prune_batch) >= self.prune_batch
                pruned = -self.prune_interval if full else time.monotonic()
            sent = await self.relay_once(conn)
            if sent < self.batch_size:
                await wait_for_appends(self._wake, self.poll_interval, self.coalesce_seconds)
