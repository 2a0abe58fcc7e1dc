"""The relay: publishes committed events from the log to JetStream (the log is the outbox).

One leader at a time (a Postgres advisory lock held on the relay's own connection). It reads
with the gap-safe cursor, publishes each event to ``<ns>.events.<category>.<EventType>`` with
``Nats-Msg-Id = event_id``, and moves its checkpoint only after every publish in the batch is
acknowledged. A crash republishes from the checkpoint; JetStream's duplicate window and the
consumers' inboxes absorb the repeats. After a NATS outage it retries until it gets through.
"""

from __future__ import annotations

import asyncio
import time
import zlib

import msgspec
import structlog
from nats.js import JetStreamContext
from preflog_contracts.envelope import RecordedEvent
from preflog_observability.metrics import RELAY_LAG_SECONDS, RELAY_PUBLISHED

from preflog_eventstore.conn import Conn
from preflog_eventstore.store import EventStore, load_checkpoint, save_checkpoint

log = structlog.get_logger(__name__)
_encoder = msgspec.json.Encoder()


def event_subject(namespace: str, event: RecordedEvent) -> str:
    return f"{namespace}.events.{event.category}.{event.event_type}"


def encode_recorded(event: RecordedEvent) -> bytes:
    return _encoder.encode(event)


class Relay:
    def __init__(
        self,
        store: EventStore,
        js: JetStreamContext,
        *,
        namespace: str,
        batch_size: int = 2000,
        poll_interval: float = 0.02,
        publish_timeout: float = 5.0,
    ) -> None:
        self.store = store
        self.js = js
        self.namespace = namespace
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.checkpoint_name = f"relay:{namespace}"
        self.lock_key = zlib.crc32(self.checkpoint_name.encode())
        self._wake = asyncio.Event()
        store.on_append.append(self._wake.set)
        self.is_leader = False

    async def relay_once(self, conn: Conn) -> int:
        """Publish one batch and move the checkpoint after all acks; returns the count."""
        cursor = await load_checkpoint(conn, self.checkpoint_name)
        events = await self.store.read_all(cursor, limit=self.batch_size, conn=conn)
        if not events:
            return 0
        # Pipelined publishes; the acks are awaited together under one deadline, because
        # an unacknowledged async publish never times out by itself.
        acks = [
            await self.js.publish_async(
                event_subject(self.namespace, e),
                encode_recorded(e),
                wait_stall=self.publish_timeout,
                headers={"Nats-Msg-Id": e.event_id},
            )
            for e in events
        ]
        try:
            await asyncio.wait_for(asyncio.gather(*acks), self.publish_timeout)
        except BaseException:
            for ack in acks:
                ack.cancel()
            raise
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
                        await _sleep_or_stop(stop, 1.0)
                        continue
                    self.is_leader = True
                    try:
                        await self._lead(conn, stop)
                    finally:
                        self.is_leader = False
                        await conn.execute("select pg_advisory_unlock($1)", self.lock_key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # NATS down, Postgres restart: log, back off, retry
                log.warning("relay.retry", error=repr(exc))
                await _sleep_or_stop(stop, 0.5)

    async def _lead(self, conn: Conn, stop: asyncio.Event) -> None:
        while not stop.is_set():
            sent = await self.relay_once(conn)
            if sent < self.batch_size:
                self._wake.clear()
                try:
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)
                except TimeoutError:
                    pass


async def _sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    try:
        await asyncio.wait_for(stop.wait(), seconds)
    except TimeoutError:
        pass
