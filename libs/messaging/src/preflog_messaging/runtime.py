"""The composition root shared by every service process.

A service is described by :class:`ServiceParts` (its RPC operations, projections, consumers
and background loops); :func:`open_runtime` connects the shared infrastructure once, and
:func:`run_parts` runs any set of services until asked to stop — one service for
``preflog serve <name>``, all of them for ``preflog up``.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import time
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext

from preflog_eventstore import (
    EventStore,
    LostConnections,
    ProjectionRunner,
    create_pool,
    sleep_or_stop,
)
from preflog_messaging.connection import connect, ensure_events_stream
from preflog_messaging.consumer import EventConsumer, Handler
from preflog_messaging.rpc import RpcClient, RpcServer
from preflog_observability.metrics import EVENT_LOOP_LAG, LOOP_RESTARTS
from preflog_settings import Settings

T = TypeVar("T")
log = structlog.get_logger(__name__)

Loop = Callable[[asyncio.Event], Awaitable[None]]


@dataclass
class Runtime:
    """Connections every service in a process shares."""

    settings: Settings
    pool: asyncpg.Pool
    store: EventStore
    nc: Client
    js: JetStreamContext
    rpc: RpcClient
    lost: LostConnections = field(init=False)
    """Told of every lost database connection the process's parts meet."""

    def __post_init__(self) -> None:
        self.lost = LostConnections(self.pool)

    def rpc_server(self, service: str) -> RpcServer:
        return RpcServer(
            self.nc,
            namespace=self.settings.namespace,
            service=service,
            secret=self.settings.internal_secret,
            lost=self.lost,
        )

    def consumer(
        self,
        durable: str,
        handler: Handler | None,
        categories: Collection[str] | None = None,
        **kwargs: Any,
    ) -> EventConsumer:
        return EventConsumer(
            self.js,
            self.pool,
            namespace=self.settings.namespace,
            durable=f"{self.settings.namespace}_{durable}",
            handler=handler,
            categories=categories,
            **kwargs,
        )

    async def close(self) -> None:
        # Every loop has stopped by now, so nothing waits on a subscription: send what is
        # still buffered (flush waits for the server's answer) and close. drain() would wait
        # out its whole 30 s on a pull subscription, and cut short it leaves a cancelled
        # gather behind that asyncio prints as a traceback at exit.
        with contextlib.suppress(Exception):
            await self.nc.flush(timeout=2)
        with contextlib.suppress(Exception):
            await self.nc.close()
        await self.pool.close()


async def open_runtime(settings: Settings, *, pool_max: int | None = None) -> Runtime:
    """Connect to Postgres and NATS and make sure the events stream exists."""
    pool = await create_pool(
        settings.database_url,
        min_size=settings.db_pool_min,
        max_size=pool_max or settings.db_pool_max,
    )
    nc = await connect(settings.nats_url, name=f"preflog-{settings.namespace}")
    js = nc.jetstream()
    await ensure_events_stream(js, settings.namespace)
    rpc = RpcClient(
        nc,
        namespace=settings.namespace,
        secret=settings.internal_secret,
        timeout=settings.rpc_timeout_seconds,
    )
    return Runtime(settings, pool, EventStore(pool), nc, js, rpc)


@dataclass
class ServiceParts:
    name: str
    rpc: RpcServer | None = None
    projections: list[ProjectionRunner] = field(default_factory=list)
    consumers: list[EventConsumer] = field(default_factory=list)
    loops: list[Loop] = field(default_factory=list)

    def loops_to_run(self) -> list[Loop]:
        return (
            [p.run for p in self.projections] + [c.run for c in self.consumers] + list(self.loops)
        )


async def start_parts(
    parts: list[ServiceParts], stop: asyncio.Event, *, lost: LostConnections | None = None
) -> list[asyncio.Task[None]]:
    """Start RPC servers and every loop, each supervised (see :func:`supervise`); returns
    the tasks (they end when ``stop`` is set). ``lost`` is told of lost connections."""
    for p in parts:
        if p.rpc is not None:
            await p.rpc.start()
    tasks: list[asyncio.Task[None]] = []
    for p in parts:
        for loop in p.loops_to_run():
            name = f"{p.name}:{_loop_name(loop)}"
            tasks.append(asyncio.create_task(supervise(loop, stop, name, lost), name=name))
    log.info("services.started", services=[p.name for p in parts])
    return tasks


def _loop_name(loop: Loop) -> str:
    return str(getattr(loop, "__qualname__", "loop"))


RESTART_DELAYS = (0.5, 1.0, 2.0, 5.0, 10.0)
"""Seconds before a failed loop runs again: the first failure, the second in a row, ..."""


async def supervise(
    loop: Loop, stop: asyncio.Event, name: str, lost: LostConnections | None = None
) -> None:
    """Run ``loop(stop)`` until ``stop``, starting it again whenever it fails.

    A projection, a consumer, the relay or a sweeper that raised used to end for good (a
    Postgres restart left the label read model and lease expiry stopped until the process
    restarted). A failure is logged (a lost database connection as a warning, anything else
    with its trace) and the loop starts again after ``RESTART_DELAYS``; a run that lasted a
    minute resets the delay.
    """
    failures = 0
    while not stop.is_set():
        started = time.monotonic()
        try:
            await loop(stop)
            return
        except asyncio.CancelledError:
            raise
        except Exception as exc:
            if stop.is_set():
                return
            if time.monotonic() - started > 60:
                failures = 0
            delay = RESTART_DELAYS[min(failures, len(RESTART_DELAYS) - 1)]
            failures += 1
            if lost is not None and await lost.noticed(exc):
                LOOP_RESTARTS.labels(name, "database").inc()
                log.warning("loop.restarting", loop=name, error=repr(exc), after_seconds=delay)
            else:
                LOOP_RESTARTS.labels(name, "error").inc()
                log.error("loop.failed", loop=name, after_seconds=delay, exc_info=exc)
        await sleep_or_stop(stop, delay)


LAG_PERIOD = 0.25
"""Seconds between the event-loop lag watcher's timers."""
STALL_SECONDS = 0.25
"""A timer this late is logged (``loop.stalled``) besides being counted."""


async def watch_loop_lag(stop: asyncio.Event) -> None:
    """Observe how late the event loop runs a timer every ``LAG_PERIOD`` s, until ``stop``.

    Every request, consumer and projection of a process shares its one event loop, so a
    handler that computes for 50 ms delays all of them by 50 ms, which no per-request timing
    attributes to the right cause; ``preflog_event_loop_lag_seconds`` on ``/metrics`` shows
    it (and a timer later than ``STALL_SECONDS`` is logged). Four timers a second cost
    nothing measurable; a stall shorter than the period is seen when a timer falls in it.
    """
    loop = asyncio.get_running_loop()
    while not stop.is_set():
        due = loop.time() + LAG_PERIOD
        await sleep_or_stop(stop, LAG_PERIOD)
        if stop.is_set():
            return
        lag = max(0.0, loop.time() - due)
        EVENT_LOOP_LAG.observe(lag)
        if lag > STALL_SECONDS:
            log.warning("loop.stalled", late_seconds=round(lag, 3))


async def stop_parts(
    parts: list[ServiceParts], tasks: list[asyncio.Task[None]], stop: asyncio.Event
) -> None:
    stop.set()
    for p in parts:
        if p.rpc is not None:
            await p.rpc.stop()
    _, pending = await asyncio.wait(tasks, timeout=10) if tasks else (set(), set())
    for t in pending:
        t.cancel()


def run(main: Coroutine[Any, Any, T]) -> T:
    """``asyncio.run`` on uvloop where it is installed, with fewer young-generation GC passes.

    The processes here spend most of their time handing bytes to sockets; uvloop's C
    transports took the labeling service from 577-620 to ~670 actions/s in the same bench
    (``services/labeling/bench``). A request allocates thousands of short-lived objects, so
    the default threshold (700) ran a collection every few requests, each pausing every
    request in flight: at 50,000 the bench's p99 went from 104-123 to 85-89 ms and the
    read-model lag p99 from 149-176 to 128 ms (two pairs of runs).
    """
    gc.set_threshold(50_000, 50, 100)
    try:
        import uvloop
    except ImportError:  # pragma: no cover - platforms without uvloop
        return asyncio.run(main)
    return uvloop.run(main)
