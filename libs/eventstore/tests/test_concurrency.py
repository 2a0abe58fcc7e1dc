"""16+ concurrent writers on overlapping streams while a catch-up reader runs."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict

from preflog_contracts.envelope import START, Metadata, RecordedEvent
from preflog_contracts.errors import WrongExpectedVersion
from preflog_eventstore import EventStore, StreamWrite

from .conftest import dataset_event

WRITERS = 16
APPENDS_PER_WRITER = 40
STREAMS = [f"dataset-s{i}" for i in range(6)]


async def _writer(
    store: EventStore, org_id: str, meta: Metadata, seed: int, committed: list[str]
) -> None:
    rng = random.Random(seed)
    for _ in range(APPENDS_PER_WRITER):
        stream = rng.choice(STREAMS)
        while True:
            version = await store.stream_version(stream)
            try:
                result = await store.append(
                    StreamWrite(stream, [dataset_event()] * rng.randint(1, 3), version),
                    org_id=org_id,
                    metadata=meta,
                )
            except WrongExpectedVersion:
                continue
            committed.extend(e.event_id for e in result.events)
            break


async def _held_writer(
    store: EventStore, org_id: str, meta: Metadata, committed: list[str]
) -> None:
    """Takes identity values early and commits late, so later ones commit before it."""
    async with store.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        result = await store.append(
            StreamWrite("dataset-held", [dataset_event()] * 3, -1),
            org_id=org_id,
            metadata=meta,
            conn=conn,
        )
        await asyncio.sleep(0.5)
        await tx.commit()
        committed.extend(e.event_id for e in result.events)


async def test_catch_up_reader_sees_each_committed_event_once_in_stream_order(
    fresh_store: EventStore, org_id: str, meta: Metadata
) -> None:
    store = fresh_store
    committed: list[str] = []
    seen: list[RecordedEvent] = []
    done = asyncio.Event()

    async def reader() -> None:
        # An empty read only means "nothing visible yet": a transaction anywhere in the
        # cluster may hold the snapshot's xmin back, and then the reader must wait, not stop.
        # So it stops once everything committed is seen (or the test's deadline fails it).
        cursor = START
        while not (done.is_set() and len(seen) >= len(committed)):
            batch = await store.read_all(cursor, limit=50)
            seen.extend(batch)
            if batch:
                cursor = batch[-1].cursor
            else:
                await asyncio.sleep(0.005)
        seen.extend(await store.read_all(cursor))  # and nothing beyond that

    read_task = asyncio.create_task(reader())
    await asyncio.gather(
        _held_writer(store, org_id, meta, committed),
        *(_writer(store, org_id, meta, seed, committed) for seed in range(WRITERS)),
    )
    done.set()
    await asyncio.wait_for(read_task, 30)

    ids = [e.event_id for e in seen]
    assert len(ids) == len(set(ids)), "an event was delivered twice"
    assert set(ids) == set(committed), "an event was lost"
    per_stream: dict[str, list[int]] = defaultdict(list)
    for e in seen:
        per_stream[e.stream_name].append(e.stream_position)
    for stream, positions in per_stream.items():
        assert positions == list(range(len(positions))), stream
