"""Waiting for what a reader will see.

A gap-safe reader sees an event only once every older transaction in the Postgres cluster has
ended, so right after a commit a read may still come back short (another test's transaction
holds the snapshot's xmin). Tests wait for the expected state instead of reading once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import TypeVar

from preflog_contracts.envelope import START, RecordedEvent
from preflog_eventstore import EventStore

T = TypeVar("T")


async def eventually(
    probe: Callable[[], Awaitable[T]],
    done: Callable[[T], bool],
    *,
    timeout: float = 30.0,
    interval: float = 0.02,
) -> T:
    """Call ``probe`` until ``done(result)``; return that result (or the last, at the deadline)."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout
    result = await probe()
    while not done(result) and loop.time() < deadline:
        await asyncio.sleep(interval)
        result = await probe()
    return result


async def org_log(store: EventStore, org_id: str, count: int) -> list[RecordedEvent]:
    """``org_id``'s events in commit order from the start, once ``count`` of them are
    visible (or what is visible at the deadline)."""
    return await eventually(
        lambda: store.read_all(START, org_id=org_id), lambda events: len(events) == count
    )
