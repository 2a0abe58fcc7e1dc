"""The projection runner: batch + checkpoint in one transaction, rebuild into a shadow table."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
import pytest

from preflog_contracts.envelope import START, Metadata, RecordedEvent
from preflog_eventstore import ANY, EventStore, ProjectionRunner, StreamWrite, load_checkpoint
from preflog_testing.waiting import eventually

from .conftest import dataset_event


class CountPerStream:
    name = "count_per_stream"
    categories = ("dataset",)
    tables = ("public.stream_counts",)

    def __init__(self, fail_on: int | None = None) -> None:
        self.fail_on = fail_on

    async def apply(
        self,
        conn: asyncpg.Connection,
        events: Sequence[RecordedEvent],
        tables_map: Mapping[str, str],
    ) -> None:
        table = tables_map["public.stream_counts"]
        for e in events:
            if self.fail_on is not None and e.global_position == self.fail_on:
                raise RuntimeError("boom")
            await conn.execute(
                f"insert into {table} (stream, n) values ($1, 1)"
                f" on conflict (stream) do update set n = {table}.n + 1",
                e.stream_name,
            )


async def _counts(store: EventStore) -> dict[str, int]:
    return dict(await store.pool.fetch("select stream, n from public.stream_counts"))


async def test_runner_applies_once_and_rebuild_gives_identical_table(
    fresh_store: EventStore, org_id: str, meta: Metadata
) -> None:
    store = fresh_store
    await store.pool.execute(
        "create table public.stream_counts (stream text primary key, n int not null)"
    )
    for i in range(30):
        await store.append(
            StreamWrite(f"dataset-{i % 4}", [dataset_event()], ANY), org_id=org_id, metadata=meta
        )
    runner = ProjectionRunner(store, CountPerStream(), batch_size=7)
    applied: list[int] = []

    async def catch_up() -> int:
        applied.append(await runner.catch_up())
        return sum(applied)

    assert await eventually(catch_up, lambda total: total >= 30) == 30
    assert await runner.catch_up() == 0
    before = await _counts(store)
    assert before == {f"dataset-{i}": 8 if i < 2 else 7 for i in range(4)}
    cursor = await runner.rebuild()
    assert await _counts(store) == before
    async with store.pool.acquire() as conn:
        assert await load_checkpoint(conn, runner.checkpoint_name) == cursor


async def test_failed_batch_moves_no_checkpoint_and_applies_nothing(
    fresh_store: EventStore, org_id: str, meta: Metadata
) -> None:
    store = fresh_store
    await store.pool.execute(
        "create table public.stream_counts (stream text primary key, n int not null)"
    )
    results = [
        await store.append(
            StreamWrite("dataset-a", [dataset_event()], ANY), org_id=org_id, metadata=meta
        )
        for _ in range(5)
    ]
    failing = CountPerStream(fail_on=results[3].events[0].global_position)
    # The failing event must be visible to readers first (xmin may be held elsewhere).
    await eventually(lambda: store.read_all(START), lambda events: len(events) == 5)
    with pytest.raises(RuntimeError):
        await ProjectionRunner(store, failing, batch_size=10).run_once()
    assert await _counts(store) == {}
    runner = ProjectionRunner(store, CountPerStream(), batch_size=10)
    await eventually(runner.catch_up, lambda n: n > 0)
    assert await _counts(store) == {"dataset-a": 5}
