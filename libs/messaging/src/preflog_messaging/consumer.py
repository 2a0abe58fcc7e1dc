"""The one consumer loop services use to learn from other services' events.

A durable pull consumer on the events stream, explicit acks, and an inbox row per event
written in the same transaction as the effect: a redelivered event finds its inbox row and
changes nothing. Bounded ``fetch`` calls in a loop survive a NATS restart on their own.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Collection

import asyncpg
import msgspec
import structlog
from nats.aio.msg import Msg
from nats.errors import ConnectionClosedError, NoRespondersError
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig, DeliverPolicy

from preflog_contracts.envelope import RecordedEvent
from preflog_eventstore import connection_lost, sleep_or_stop
from preflog_eventstore.conn import Conn
from preflog_messaging.connection import events_stream, events_subjects
from preflog_observability.metrics import CONSUMER_EVENTS, CONSUMER_REDELIVERIES

log = structlog.get_logger(__name__)
_decoder = msgspec.json.Decoder(RecordedEvent)

Handler = Callable[[Conn, RecordedEvent], Awaitable[None]]
BatchHandler = Callable[[Conn, list[RecordedEvent]], Awaitable[object]]
"""Takes a batch's new events at once, in order (for a handler that reads and writes its
tables once per batch rather than once per event)."""


ACK_WAIT_SECONDS = 5.0
"""How long JetStream waits for an ack before it hands a message to a fetcher again: after a
crash, how long the dead process's fetched but unapplied events wait. A live consumer keeps
its batch in progress (see ``EventConsumer._still_working``), so this bounds no batch's time."""


class NotYet(Exception):
    """Raised by a handler for an event that needs another not applied yet. The events a
    dead instance had fetched come back after the ack wait, behind later ones (see
    :class:`EventConsumer`): an approval can arrive before the submission it approves. The
    event is handed back to come again after a delay that doubles from half a second to 30
    seconds; one still waiting after ``NOT_YET_DELIVERIES`` deliveries (about ten minutes)
    is dropped with an error, as its handler would have dropped it before."""


NOT_YET_DELIVERIES = 30


def not_yet_delay(deliveries: int) -> float:
    """Seconds before an event that was not yet applicable comes again."""
    return float(min(0.5 * 2 ** (deliveries - 1), 30.0))


class EventConsumer:
    """Feed events of ``categories`` (None: all) to ``handler``, each exactly once in effect.

    ``handler`` runs inside the transaction that records the inbox row; raising rolls both
    back and the message is redelivered later. ``batch_handler`` instead of ``handler`` gets
    every new event of a fetched batch in one call (same transaction, same order).

    Events of one category arrive in log order, but for one case: the events a dead instance
    had fetched and not acknowledged come back after the ack wait (``ACK_WAIT_SECONDS``),
    behind any later ones another instance took meanwhile; handlers must not be hurt by that
    (``tests/e2e/test_crash_recovery.py``). With a single category, or with
    ``independent=True`` (the handler does not care in which order events of different
    categories arrive), each category gets its own durable filtered on the server
    (``<ns>.events.<category>.>``), so the traffic of other categories never reaches this
    process. Otherwise one durable reads the whole stream, in order, and skips by subject.
    The inbox is keyed by ``durable`` either way. ``types`` (None: all) narrows further to
    the event types the handler acts on; the others are acked unread, with no inbox row.
    ``batch_size`` bounds a fetch; ``apply_size`` (default: the same) bounds how many of its
    events one transaction applies, for handlers whose transactions must stay short.
    """

    def __init__(
        self,
        js: JetStreamContext,
        pool: asyncpg.Pool,
        *,
        namespace: str,
        durable: str,
        handler: Handler | None = None,
        categories: Collection[str] | None = None,
        batch_handler: BatchHandler | None = None,
        types: Collection[str] | None = None,
        independent: bool = False,
        batch_size: int = 256,
        apply_size: int | None = None,
        fetch_timeout: float = 0.5,
        ack_wait_seconds: float = ACK_WAIT_SECONDS,
    ) -> None:
        self.js = js
        self.pool = pool
        self.namespace = namespace
        self.durable = durable
        if (handler is None) == (batch_handler is None):
            raise TypeError("give one of handler and batch_handler")
        self.handler = handler
        self.batch_handler = batch_handler
        self.categories = set(categories) if categories is not None else None
        self.types = set(types) if types is not None else None
        self.filtered = self.categories is not None and (len(self.categories) == 1 or independent)
        self.batch_size = batch_size
        self.apply_size = apply_size or batch_size
        self.fetch_timeout = fetch_timeout
        self.ack_wait_seconds = ack_wait_seconds
        self.processed = 0
        self.resubscribed = 0  # subscriptions dropped and made again (NATS down, no consumer)
        self.database_away = False  # the last batch met a lost database connection

    def _feeds(self) -> list[tuple[str, str]]:
        """(subject filter, JetStream durable name) of each pull subscription."""
        if self.filtered and self.categories is not None:
            prefix = events_subjects(self.namespace).removesuffix(">")
            return [(f"{prefix}{c}.>", f"{self.durable}_{c}") for c in sorted(self.categories)]
        return [(events_subjects(self.namespace), self.durable)]

    async def _subscribe(self, subject: str, durable: str) -> JetStreamContext.PullSubscription:
        config = ConsumerConfig(
            durable_name=durable,
            filter_subject=subject,
            ack_policy=AckPolicy.EXPLICIT,
            deliver_policy=DeliverPolicy.ALL,
            ack_wait=self.ack_wait_seconds,
            max_ack_pending=20_000,
        )
        # Create the durable, or bring an existing one's settings (its ack wait) up to date:
        # pull_subscribe alone leaves an existing durable as it was made.
        await self.js.add_consumer(events_stream(self.namespace), config=config)
        return await self.js.pull_subscribe(
            subject, durable=durable, stream=events_stream(self.namespace), config=config
        )

    async def run(self, stop: asyncio.Event) -> None:
        feeds = self._feeds()
        if len(feeds) == 1:
            await self._run_feed(stop, *feeds[0])
            return
        await asyncio.gather(
            *(self._run_feed(stop, subject, durable) for subject, durable in feeds)
        )

    async def _run_feed(self, stop: asyncio.Event, subject: str, durable: str) -> None:
        sub: JetStreamContext.PullSubscription | None = None
        while not stop.is_set():
            try:
                if sub is None:
                    sub = await self._subscribe(subject, durable)
                msgs = await sub.fetch(self.batch_size, timeout=self.fetch_timeout)
            except TimeoutError:
                # Nothing to fetch. nats-py raises its own TimeoutError, or asyncio's (the
                # builtin) when the deadline ran out before its second, lingering request:
                # both mean an empty fetch, not a broken subscription.
                continue
            except asyncio.CancelledError:
                raise
            except (ConnectionClosedError, NoRespondersError, OSError, Exception) as exc:
                # NATS restarting or the consumer not there yet: back off and re-subscribe.
                log.info("consumer.waiting", consumer=durable, error=repr(exc))
                self.resubscribed += 1
                sub = None
                await sleep_or_stop(stop, 0.5)
                continue
            await self._handle_batch(msgs)
            if self.database_away:
                self.database_away = False
                await sleep_or_stop(stop, 1.0)

    def _wanted(self, msg: Msg) -> bool:
        # Subjects are <ns>.events.<category>.<type>: skip by subject, before decoding.
        _, category, event_type = msg.subject.rsplit(".", 2)
        return (self.categories is None or category in self.categories) and (
            self.types is None or event_type in self.types
        )

    async def _handle_batch(self, msgs: list[Msg]) -> None:
        working = asyncio.create_task(self._still_working(msgs))
        try:
            await self._apply_batch(msgs)
        finally:
            working.cancel()

    async def _still_working(self, msgs: list[Msg]) -> None:
        """Tell JetStream, every third of the ack wait, that the batch's unacknowledged
        messages are still being worked on, so however long a batch takes, it is not handed
        to another instance while this one lives (the ack wait is short so that a dead
        instance's messages come back soon)."""
        while True:
            await asyncio.sleep(self.ack_wait_seconds / 3)
            for msg in msgs:
                if not msg.is_acked:
                    await msg.in_progress()

    async def _apply_batch(self, msgs: list[Msg]) -> None:
        events: list[tuple[Msg, RecordedEvent | None]] = []
        for msg in msgs:
            if msg.metadata.num_delivered > 1:
                CONSUMER_REDELIVERIES.labels(self.durable).inc()
            events.append((msg, _decoder.decode(msg.data) if self._wanted(msg) else None))
        wanted = [(msg, event) for msg, event in events if event is not None]
        settled: set[int] = set()  # messages acked or naked one by one
        for start in range(0, len(wanted), self.apply_size):
            chunk = wanted[start : start + self.apply_size]
            try:
                async with self.pool.acquire() as conn, conn.transaction():
                    await self._apply_all(conn, [event for _, event in chunk])
            except Exception as exc:
                if connection_lost(exc):
                    # The database is away: nothing after this can be applied either. Hand
                    # it all back, to come again in order after a pause, rather than fail
                    # each event in turn.
                    log.warning(
                        "consumer.database_unavailable", consumer=self.durable, error=repr(exc)
                    )
                    for msg, _ in wanted[start:]:
                        await msg.nak(delay=1.0)
                        settled.add(id(msg))
                    self.database_away = True
                    break
                # One bad (or not yet applicable) event must not hold back the rest: retry
                # them one by one.
                (log.info if isinstance(exc, NotYet) else log.warning)(
                    "consumer.batch_failed", consumer=self.durable, error=repr(exc)
                )
                for msg, event in chunk:
                    await self._handle_single(msg, event)
                    settled.add(id(msg))
                continue
            self.processed += len(chunk)
        for msg, _ in events:
            if id(msg) not in settled:
                await msg.ack()

    async def _handle_single(self, msg: Msg, event: RecordedEvent | None) -> None:
        try:
            if event is not None:
                async with self.pool.acquire() as conn, conn.transaction():
                    await self._apply_all(conn, [event])
                self.processed += 1
            await msg.ack()
        except NotYet as exc:
            deliveries = msg.metadata.num_delivered or 1
            if deliveries >= NOT_YET_DELIVERIES:
                CONSUMER_EVENTS.labels(self.durable, "dropped").inc()
                log.error("consumer.event_dropped", consumer=self.durable, reason=str(exc))
                await msg.ack()
                return
            CONSUMER_EVENTS.labels(self.durable, "not_yet").inc()
            log.info("consumer.event_not_yet", consumer=self.durable, reason=str(exc))
            await msg.nak(delay=not_yet_delay(deliveries))
        except Exception:
            CONSUMER_EVENTS.labels(self.durable, "error").inc()
            log.exception("consumer.event_failed", consumer=self.durable)
            await msg.nak(delay=1.0)

    async def _apply_all(self, conn: Conn, events: list[RecordedEvent]) -> None:
        """The batch's inbox rows in one statement, then the handler for each event seen
        for the first time, in order (a repeat within the batch is applied once)."""
        rows = await conn.fetch(
            "insert into eventlog.inbox (consumer, event_id) select $1, id"
            " from unnest($2::uuid[]) as u(id) on conflict do nothing returning event_id::text",
            self.durable,
            [e.event_id for e in events],
        )
        first = {r[0] for r in rows}
        new: list[RecordedEvent] = []
        for event in events:
            if event.event_id in first:
                first.discard(event.event_id)
                new.append(event)
        CONSUMER_EVENTS.labels(self.durable, "duplicate").inc(len(events) - len(new))
        if self.batch_handler is not None:
            if new:
                await self.batch_handler(conn, new)
        else:
            assert self.handler is not None
            for event in new:
                await self.handler(conn, event)
        CONSUMER_EVENTS.labels(self.durable, "applied").inc(len(new))
