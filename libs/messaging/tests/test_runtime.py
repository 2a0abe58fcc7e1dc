"""Supervised loops: a failing loop starts again; a lost connection recycles the pool."""

from __future__ import annotations

import asyncio

import pytest

from preflog_eventstore import EventStore, LostConnections
from preflog_messaging import runtime
from preflog_messaging.runtime import supervise
from preflog_observability.metrics import LOOP_RESTARTS


async def test_a_failing_loop_is_started_again_until_stop(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(runtime, "RESTART_DELAYS", (0.01,))
    runs: list[int] = []
    stop = asyncio.Event()
    third = asyncio.Event()

    async def loop(stop: asyncio.Event) -> None:
        runs.append(len(runs))
        if len(runs) < 3:
            raise RuntimeError("boom")
        third.set()
        await stop.wait()

    before = LOOP_RESTARTS.labels("test", "error")._value.get()
    task = asyncio.create_task(supervise(loop, stop, "test"))
    await asyncio.wait_for(third.wait(), 2)
    assert not task.done()
    stop.set()
    await asyncio.wait_for(task, 2)
    assert runs == [0, 1, 2]
    assert LOOP_RESTARTS.labels("test", "error")._value.get() - before == 2  # on /metrics


async def test_a_loop_that_ends_is_not_started_again() -> None:
    runs: list[int] = []

    async def loop(stop: asyncio.Event) -> None:
        runs.append(1)

    await asyncio.wait_for(supervise(loop, asyncio.Event(), "once"), 2)
    assert runs == [1]


async def test_a_loop_that_lost_its_connection_has_the_pool_replace_its_connections(
    fresh_store: EventStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A Postgres restart ends every pooled session; the first loss seen expires them all so
    the loops' next acquires reconnect instead of each failing on a dead connection."""
    monkeypatch.setattr(runtime, "RESTART_DELAYS", (0.01,))
    pool = fresh_store.pool
    lost = LostConnections(pool)
    idle = await pool.fetchval("select pg_backend_pid()")
    stop = asyncio.Event()
    pids: list[int] = []
    second = asyncio.Event()

    async def loop(stop: asyncio.Event) -> None:
        async with pool.acquire() as conn:
            pid = await conn.fetchval("select pg_backend_pid()")
            pids.append(pid)
            if len(pids) == 2:
                second.set()
            if len(pids) == 1:
                async with pool.acquire() as other:
                    await other.fetchval("select pg_terminate_backend($1)", pid)
                await asyncio.sleep(0.1)
                await conn.fetchval("select 1")  # on the connection the server ended
        await stop.wait()

    task = asyncio.create_task(supervise(loop, stop, "lost", lost))
    await asyncio.wait_for(second.wait(), 5)
    stop.set()
    await asyncio.wait_for(task, 2)
    assert lost.recycled == 1
    assert pids[1] != pids[0]
    assert idle not in pids[1:]  # connections opened before the loss were replaced too


def _lag_count(above: float) -> float:
    """Timers the lag histogram saw later than ``above`` seconds (a bucket bound)."""
    from preflog_observability.metrics import EVENT_LOOP_LAG

    buckets = {
        s.labels["le"]: s.value
        for s in EVENT_LOOP_LAG.collect()[0].samples
        if s.name.endswith("_bucket")
    }
    return buckets["+Inf"] - buckets[str(above)]


async def test_a_blocked_event_loop_is_measured_and_logged(monkeypatch: pytest.MonkeyPatch) -> None:
    import time

    from structlog.testing import capture_logs

    monkeypatch.setattr(runtime, "LAG_PERIOD", 0.01)
    stop = asyncio.Event()
    before = _lag_count(0.25)
    with capture_logs() as logs:
        task = asyncio.create_task(supervise(runtime.watch_loop_lag, stop, "loop_lag"))
        await asyncio.sleep(0.05)
        time.sleep(0.4)  # noqa: ASYNC251 - a handler computing without yielding: every timer waits
        await asyncio.sleep(0.05)
        stop.set()
        await asyncio.wait_for(task, 2)
    assert _lag_count(0.25) - before >= 1
    stalls = [e for e in logs if e["event"] == "loop.stalled"]
    assert any(e["late_seconds"] > 0.3 for e in stalls)
