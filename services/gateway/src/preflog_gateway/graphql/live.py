"""Live events for subscriptions: read from the log in commit order, fanned out in-process.

One reader per gateway process follows the log with the gap-safe cursor (``read_all``), so
no event is skipped and each is read once. It wakes on the relay's NATS messages
(``<ns>.events.>``), on appends made in this process, or after a short poll interval.

Fan-out is indexed: a task subscription is offered only its task's events, a project
subscription only its project's, plus the event types each asks to see wherever they happen
(the caller's membership changes). Offering every event to every subscriber cost the
gateway subscribers x events match calls: 2,000 open task pages at 1,000 events/s would be
two million a second.

Resuming: a subscriber passes the ``position`` of the last event it saw. Events are
delivered in commit order, so what it missed is exactly what follows that event's
``(tx_id, position)`` cursor in commit order; it is replayed before live delivery begins,
with duplicates dropped by comparing cursors.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass, field
from typing import NamedTuple

import asyncpg
import structlog
from nats.aio.client import Client
from nats.aio.subscription import Subscription

from preflog_contracts.envelope import Cursor, RecordedEvent
from preflog_contracts.errors import Unavailable
from preflog_eventstore import EventStore

log = structlog.get_logger(__name__)

Match = Callable[[RecordedEvent], bool]


@dataclass(eq=False)
class _Subscriber:
    match: Match
    task_id: str | None = None
    project_id: str | None = None
    also: frozenset[str] = frozenset()
    queue: asyncio.Queue[RecordedEvent] = field(default_factory=lambda: asyncio.Queue(10_000))
    overflowed: bool = False


class Snapshot(NamedTuple):
    """Which transactions had committed at one moment (Postgres's ``pg_current_snapshot``)."""

    xmin: int
    xmax: int
    running: frozenset[int]

    def sees(self, tx_id: int) -> bool:
        """Whether transaction ``tx_id`` (of an event in the log) had committed by then."""
        return tx_id < self.xmin or (tx_id < self.xmax and tx_id not in self.running)


async def committed_now(pool: asyncpg.Pool) -> Snapshot:
    """The transactions committed now (one round trip)."""
    text = await pool.fetchval("select pg_current_snapshot()::text")
    xmin, xmax, running = str(text).split(":")
    return Snapshot(int(xmin), int(xmax), frozenset(int(x) for x in running.split(",") if x))


class LiveEvents:
    """Shared follower of the log. Start with :meth:`start`, stop with :meth:`stop`."""

    def __init__(
        self, store: EventStore, nc: Client | None, namespace: str, *, poll_interval: float = 0.1
    ) -> None:
        self.store = store
        self.nc = nc
        self.namespace = namespace
        self.poll_interval = poll_interval
        self.cursor: Cursor | None = None
        # Who is offered what (see the module's docstring): every subscriber is under its
        # task, else its project, else in ``_everything``; and under each type of its ``also``.
        self._by_task: dict[str, set[_Subscriber]] = {}
        self._by_project: dict[str, set[_Subscriber]] = {}
        self._everything: set[_Subscriber] = set()
        self._by_type: dict[str, set[_Subscriber]] = {}
        self._wake = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._nats_sub: Subscription | None = None
        # The first subscriptions may start the follower concurrently; two followers would
        # deliver every event twice.
        self._starting = asyncio.Lock()
        store.on_append.append(lambda _categories: self._wake.set())

    async def start(self) -> None:
        async with self._starting:
            if self._task is not None:
                return
            self.cursor = await self._log_end()
            if self.nc is not None:
                with contextlib.suppress(Exception):
                    self._nats_sub = await self.nc.subscribe(
                        f"{self.namespace}.events.>", cb=self._on_nats
                    )
            self._task = asyncio.create_task(self._follow(), name="gateway:live-events")

    async def stop(self) -> None:
        if self._nats_sub is not None:
            with contextlib.suppress(Exception):
                await self._nats_sub.unsubscribe()
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None

    async def _on_nats(self, _msg: object) -> None:
        self._wake.set()

    async def _log_end(self) -> Cursor:
        row = await self.store.pool.fetchrow(
            "select tx_id::text::bigint, global_position from eventlog.events"
            " where tx_id < pg_snapshot_xmin(pg_current_snapshot())"
            " order by tx_id desc, global_position desc limit 1"
        )
        return Cursor(0, 0) if row is None else Cursor(row[0], row[1])

    async def _follow(self) -> None:
        while True:
            try:
                assert self.cursor is not None
                events = await self.store.read_all(self.cursor, limit=1000)
            except Exception as exc:  # keep following through database hiccups
                log.warning("live_events.retry", error=type(exc).__name__)
                await asyncio.sleep(1.0)
                continue
            for rec in events:
                self._dispatch(rec)
            if events:
                self.cursor = events[-1].cursor
            if len(events) < 1000:
                self._wake.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._wake.wait(), self.poll_interval)

    def _dispatch(self, rec: RecordedEvent) -> None:
        meta = rec.metadata
        offered = set(self._everything)
        if meta.task_id is not None:
            offered.update(self._by_task.get(meta.task_id, ()))
        if meta.project_id is not None:
            offered.update(self._by_project.get(meta.project_id, ()))
        offered.update(self._by_type.get(rec.event_type, ()))
        for sub in offered:
            if sub.match(rec):
                try:
                    sub.queue.put_nowait(rec)
                except asyncio.QueueFull:
                    sub.overflowed = True

    def _keys(self, sub: _Subscriber) -> list[tuple[dict[str, set[_Subscriber]], str]]:
        """The indexes ``sub`` is filed under, with its key in each."""
        if sub.task_id is not None:
            home = [(self._by_task, sub.task_id)]
        elif sub.project_id is not None:
            home = [(self._by_project, sub.project_id)]
        else:
            home = []
        return home + [(self._by_type, t) for t in sub.also]

    def _add(self, sub: _Subscriber) -> None:
        if sub.task_id is None and sub.project_id is None:
            self._everything.add(sub)
        for index, key in self._keys(sub):
            index.setdefault(key, set()).add(sub)

    def _remove(self, sub: _Subscriber) -> None:
        self._everything.discard(sub)
        for index, key in self._keys(sub):
            filed = index.get(key)
            if filed is not None:
                filed.discard(sub)
                if not filed:
                    del index[key]

    async def cursor_of(self, org_id: str, position: int) -> Cursor | None:
        """The commit-order cursor of the event at ``position`` in ``org_id`` (None if none)."""
        row = await self.store.pool.fetchrow(
            "select tx_id::text::bigint, global_position from eventlog.events"
            " where global_position = $1 and org_id = $2::uuid",
            position,
            org_id,
        )
        return None if row is None else Cursor(row[0], row[1])

    async def subscribe(
        self,
        match: Match,
        *,
        resume: Cursor | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
        task_id: str | None = None,
        also: frozenset[str] = frozenset(),
    ) -> AsyncIterator[RecordedEvent]:
        """Events accepted by ``match``, in commit order: first those after ``resume`` (if
        given), then live ones, each once. Raises Unavailable if it falls 10,000 behind.

        ``match`` is offered only the events of ``task_id`` if given, else of ``project_id``
        if given, else all; and every event whose type is in ``also``. ``org_id``,
        ``task_id`` (with ``also``) and ``project_id`` narrow the catch-up read likewise. A
        task's catch-up reads by the task's index, so from far back it costs the task's
        events; a project's reads by the project's index from about ``resume``'s time, so
        it costs the project's events since then, not every tenant's (EventStore.read_all)."""
        await self.start()
        sub = _Subscriber(match, task_id=task_id, project_id=project_id, also=also)
        self._add(sub)
        try:
            # Commit-order position up to which events were considered (delivered or not).
            last = None if resume is None else (resume.tx_id, resume.global_position)
            if resume is not None:
                cursor = resume
                while batch := await self.store.read_all(
                    cursor,
                    limit=1000,
                    org_id=org_id,
                    project_id=None if task_id is not None else project_id,
                    task_id=task_id,
                    also_types=sorted(also) if task_id is not None else None,
                ):
                    for rec in batch:
                        if match(rec):
                            yield rec
                    cursor = batch[-1].cursor
                    last = (cursor.tx_id, cursor.global_position)
            while True:
                if sub.overflowed:
                    raise Unavailable(
                        "this subscription fell too far behind; resubscribe with `after`"
                    )
                rec = await sub.queue.get()
                at = (rec.tx_id, rec.global_position)
                if last is not None and at <= last:
                    continue
                last = at  # commit order only grows: anything not after it was delivered
                yield rec
        finally:
            self._remove(sub)
