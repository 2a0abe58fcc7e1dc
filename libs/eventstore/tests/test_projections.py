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


async def test_a_quiet_category_reader_moves_past_other_traffic_and_runners_share_progress(
    fresh_store: EventStore, org_id: str, meta: Metadata
) -> None:
    """A projection of a category nobody writes must not rescan the rest of the log on every
    poll: windows end where the scan ended, and the checkpoint follows. Two runners of one
    projection (two instances of a service) apply each event once between them."""
    store = fresh_store
    await store.pool.execute(
        "create table public.stream_counts (stream text primary key, n int not null)"
    )

    async def noise(n: int) -> None:
        for start in range(0, n, 100):
            await store.append(
                [StreamWrite(f"label-{start}-{k}", [dataset_event()]) for k in range(100)],
                org_id=org_id,
                metadata=meta,
            )

    for i in range(5):
        await store.append(
            StreamWrite(f"dataset-{i}", [dataset_event()]), org_id=org_id, metadata=meta
        )
    await noise(600)
    for i in range(5):
        await store.append(
            StreamWrite(f"dataset-{i}", [dataset_event()]), org_id=org_id, metadata=meta
        )
    await eventually(lambda: store.read_all(START, limit=10_000), lambda events: len(events) == 610)

    first, second = (ProjectionRunner(store, CountPerStream(), batch_size=100) for _ in range(2))
    applied = 0
    for _ in range(40):  # interleaved: each window is taken by one runner or the other
        applied += await first.run_once() + await second.run_once()
    assert applied == 10
    assert await _counts(store) == {f"dataset-{i}": 2 for i in range(5)}

    last = (await store.read_all(START, limit=10_000))[-1].cursor
    async with store.pool.acquire() as conn:
        assert await load_checkpoint(conn, first.checkpoint_name) == last
    assert (await store.read_window(last, categories=("dataset",))).scanned == 0

    # Only other categories now: nothing is applied, yet the checkpoint moves past them.
    await noise(300)
    await eventually(lambda: store.read_all(last, limit=10_000), lambda events: len(events) == 300)
    assert await first.catch_up() == 0
    end = (await store.read_all(START, limit=10_000))[-1].cursor
    async with store.pool.acquire() as conn:
        assert await load_checkpoint(conn, first.checkpoint_name) == end
    window = await store.read_window(START, limit=1000, categories=("dataset",))
    assert window.scanned == 910 and len(window.events) == 10 and window.end == end
