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
from collections.abc import Awaitable, Callable, Collection, Coroutine
from dataclasses import dataclass, field
from typing import Any, TypeVar

import asyncpg
import structlog
from nats.aio.client import Client
from nats.js import JetStreamContext

from preflog_eventstore import EventStore, ProjectionRunner, create_pool
from preflog_messaging.connection import connect, ensure_events_stream
from preflog_messaging.consumer import EventConsumer, Handler
from preflog_messaging.rpc import RpcClient, RpcServer
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

    def rpc_server(self, service: str) -> RpcServer:
        return RpcServer(
            self.nc,
            namespace=self.settings.namespace,
            service=service,
            secret=self.settings.internal_secret,
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


async def start_parts(parts: list[ServiceParts], stop: asyncio.Event) -> list[asyncio.Task[None]]:
    """Start RPC servers and every loop; returns the tasks (they end when ``stop`` is set)."""
    for p in parts:
        if p.rpc is not None:
            await p.rpc.start()
    tasks: list[asyncio.Task[None]] = [
        asyncio.create_task(
            _as_coroutine(loop(stop)), name=f"{p.name}:{getattr(loop, '__qualname__', 'loop')}"
        )
        for p in parts
        for loop in p.loops_to_run()
    ]
    log.info("services.started", services=[p.name for p in parts])
    return tasks


def _loop_name(loop: Loop) -> str:
    return str(getattr(loop, "__qualname__", "loop"))


async def _as_coroutine(awaitable: Awaitable[None]) -> None:
    await awaitable


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
