"""Projections: read models kept by folding the log, exactly once.

A runner applies a batch and moves its checkpoint in the same transaction, so a crash
repeats nothing and skips nothing. ``rebuild`` replays the log from position zero into
shadow tables and swaps them in, while the live runner keeps serving the old ones.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Protocol

import asyncpg
import structlog

from preflog_contracts.envelope import START, Cursor, RecordedEvent
from preflog_eventstore.conn import Conn
from preflog_eventstore.store import EventStore, load_checkpoint, save_checkpoint
from preflog_observability.metrics import PROJECTION_LAG_SECONDS

log = structlog.get_logger(__name__)


class Projection(Protocol):
    """What a runner needs from a read model.

    ``tables`` are the qualified tables the projection owns. ``apply`` must write to
    ``tables_map[name]`` (the live table, or its shadow during a rebuild), never to a
    hard-coded name.
    """

    name: str
    categories: Sequence[str] | None
    tables: Sequence[str]

    async def apply(
        self,
        conn: Conn,
        events: Sequence[RecordedEvent],
        tables_map: Mapping[str, str],
    ) -> None: ...


def _hook(projection: Projection, name: str) -> None:
    """Optional hooks of a projection that caches what it wrote: ``committed()`` after its
    live batch committed (what it applied is now the table's truth); ``forget()`` when the
    table may hold what it did not write (another runner moved the checkpoint, a failure,
    a rebuild)."""
    hook = getattr(projection, name, None)
    if hook is not None:
        hook()


def _identity(tables: Sequence[str]) -> dict[str, str]:
    return {t: t for t in tables}


class ProjectionRunner:
    """Keeps one projection current.

    The live loop reads windows of the log outside any transaction from a cursor it keeps
    in memory; only a window holding events of the projection's categories opens a
    transaction, which locks the checkpoint row, checks that no other runner moved it since,
    applies the events and saves the window's end. Quiet windows (other categories only)
    advance the cursor in memory, persisted with the next batch or every
    ``persist_interval`` seconds: after a restart, at most that much is scanned again.
    An idle poll costs one query.
    """

    def __init__(
        self,
        store: EventStore,
        projection: Projection,
        *,
        batch_size: int = 1000,
        poll_interval: float = 0.05,
        coalesce_seconds: float = 0.01,
        persist_interval: float = 5.0,
    ) -> None:
        self.store = store
        self.projection = projection
        self.batch_size = batch_size
        self.poll_interval = poll_interval
        self.coalesce_seconds = coalesce_seconds
        self.persist_interval = persist_interval
        self._wake = asyncio.Event()
        self._wanted = (
            frozenset(projection.categories) if projection.categories is not None else None
        )
        self._cursor: Cursor | None = None  # where the next window starts
        self._saved: Cursor | None = None  # the checkpoint as this runner last saw it
        self._saved_at = 0.0
        store.on_append.append(self._on_append)

    def _on_append(self, categories: frozenset[str]) -> None:
        if self._wanted is None or not self._wanted.isdisjoint(categories):
            self._wake.set()

    @property
    def checkpoint_name(self) -> str:
        return f"projection:{self.projection.name}"

    async def _step(self) -> tuple[int, int]:
        """Read one window and apply what it selects; returns (applied, scanned)."""
        async with self.store.pool.acquire() as conn:
            if self._cursor is None or self._saved is None:
                self._cursor = self._saved = await load_checkpoint(conn, self.checkpoint_name)
                self._saved_at = time.monotonic()
            window = await self.store.read_window(
                self._cursor,
                limit=self.batch_size,
                categories=self.projection.categories,
                conn=conn,
            )
            if window.end is None:
                return 0, 0
            if not window.events:
                self._cursor = window.end
                if time.monotonic() - self._saved_at > self.persist_interval:
                    await self._persist_quiet(conn, window.end)
                return 0, window.scanned
            try:
                async with conn.transaction():
                    # First, so the checkpoint row is locked before any table is touched
                    # (the order a rebuild takes them in too).
                    if not await self._advance(conn, window.end):
                        return 0, window.scanned
                    await self.projection.apply(
                        conn, window.events, _identity(self.projection.tables)
                    )
            except BaseException:
                _hook(self.projection, "forget")
                raise
        _hook(self.projection, "committed")
        self._cursor = self._saved = window.end
        self._saved_at = time.monotonic()
        lag = time.time() - window.events[-1].recorded_at.timestamp()
        PROJECTION_LAG_SECONDS.labels(self.projection.name).set(max(lag, 0.0))
        return len(window.events), window.scanned

    async def _advance(self, conn: Conn, end: Cursor) -> bool:
        """Move the checkpoint to ``end`` if it is still where this runner last saw it
        (one statement, which also locks the row until the transaction ends). If another
        runner or a rebuild moved it, follow it instead and return False."""
        assert self._saved is not None
        moved = await conn.fetchval(
            "update eventlog.checkpoints set tx_id = $4::text::xid8, global_position = $5,"
            " updated_at = now() where name = $1 and tx_id = $2::text::xid8"
            " and global_position = $3 returning 1",
            self.checkpoint_name,
            str(self._saved.tx_id),
            self._saved.global_position,
            str(end.tx_id),
            end.global_position,
        )
        if moved is None:
            self._cursor = self._saved = await load_checkpoint(conn, self.checkpoint_name)
            _hook(self.projection, "forget")
            return False
        return True

    async def _persist_quiet(self, conn: Conn, end: Cursor) -> None:
        if await self._advance(conn, end):
            self._saved = end
            self._saved_at = time.monotonic()

    async def run_once(self) -> int:
        """Read at most one window; returns how many events it applied."""
        applied, _ = await self._step()
        return applied

    async def catch_up(self) -> int:
        """Apply until nothing is left to read now; returns the number applied."""
        total = 0
        while True:
            applied, scanned = await self._step()
            total += applied
            if scanned == 0:
                break
        if self._cursor is not None and self._cursor != self._saved:
            async with self.store.pool.acquire() as conn:
                await self._persist_quiet(conn, self._cursor)
        return total

    async def run(self, stop: asyncio.Event) -> None:
        """Keep the projection current until ``stop`` is set; survives database hiccups."""
        while not stop.is_set():
            try:
                _, scanned = await self._step()
            except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
                log.warning("projection.retry", projection=self.projection.name, error=str(exc))
                scanned = 0
                self._cursor = self._saved = None  # reload the checkpoint
                await asyncio.sleep(1.0)
            if scanned < self.batch_size:
                await wait_for_appends(self._wake, self.poll_interval, self.coalesce_seconds)

    async def rebuild(self) -> Cursor:
        """Replay the whole log into shadow tables and swap them in; returns the new cursor."""
        _hook(self.projection, "forget")
        tables = list(self.projection.tables)
        shadow = {t: f"{t}__rebuild" for t in tables}
        async with self.store.pool.acquire() as conn:
            for t, s in shadow.items():
                await conn.execute(f"drop table if exists {s}")
                await conn.execute(f"create table {s} (like {t} including all)")
            cursor = START
            while True:
                async with conn.transaction():
                    events = await self.store.read_all(
                        cursor,
                        limit=self.batch_size,
                        categories=self.projection.categories,
                        conn=conn,
                    )
                    if events:
                        await self.projection.apply(conn, events, shadow)
                if len(events) < self.batch_size:
                    break
                cursor = events[-1].cursor
            if events:
                cursor = events[-1].cursor
            async with conn.transaction():
                # Holding the checkpoint row stops the live runner between batches.
                await load_checkpoint(conn, self.checkpoint_name, lock=True)
                while events := await self.store.read_all(
                    cursor,
                    limit=self.batch_size,
                    categories=self.projection.categories,
                    conn=conn,
                ):
                    await self.projection.apply(conn, events, shadow)
                    cursor = events[-1].cursor
                for t, s in shadow.items():
                    bare = t.rpartition(".")[2]
                    await conn.execute(f"drop table {t}")
                    await conn.execute(f"alter table {s} rename to {bare}")
                await save_checkpoint(conn, self.checkpoint_name, cursor)
        log.info("projection.rebuilt", projection=self.projection.name, cursor=cursor)
        return cursor


async def sleep_or_stop(stop: asyncio.Event, seconds: float) -> None:
    """Sleep ``seconds``, or less if ``stop`` is set meanwhile: the pause of every loop that
    runs until its process stops."""
    with contextlib.suppress(TimeoutError):
        await asyncio.wait_for(stop.wait(), seconds)


def every(
    interval: float, step: Callable[[], Awaitable[object]]
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A loop that runs until its process stops (a ServiceParts loop): ``step``, then a
    pause of ``interval`` seconds, again and again."""

    async def run(stop: asyncio.Event) -> None:
        while not stop.is_set():
            await step()
            await sleep_or_stop(stop, interval)

    return run


async def wait_for_appends(wake: asyncio.Event, poll_interval: float, coalesce: float) -> None:
    """Sleep until an append wakes us (or ``poll_interval``), then a little longer.

    Every batch costs a handful of round trips whatever its size, and in this sandbox each
    socket write is expensive: waking on every single append made readers spend most of the
    CPU on one-event batches. The short extra pause lets a batch gather what was appended
    meanwhile, at the price of at most ``coalesce`` more lag.
    """
    wake.clear()
    try:
        await asyncio.wait_for(wake.wait(), poll_interval)
    except TimeoutError:
        return
    if coalesce > 0:
        await asyncio.sleep(coalesce)
