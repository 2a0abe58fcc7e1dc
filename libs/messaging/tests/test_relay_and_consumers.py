"""Relay into JetStream and the consumer loop, on real Postgres and NATS."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta
from pathlib import Path

import asyncpg
import msgspec
import pytest
from nats.aio.client import Client
from nats.js import JetStreamContext
from nats.js.api import AckPolicy, ConsumerConfig

from preflog_contracts.envelope import Metadata, RecordedEvent
from preflog_contracts.events.catalog import DatasetCreated, ImportFailed
from preflog_eventstore import ANY, EventStore, StreamWrite, create_pool, migrate
from preflog_eventstore import relay as relay_module
from preflog_eventstore.embedded import EmbeddedPostgres
from preflog_eventstore.relay import Relay
from preflog_messaging import (
    EventConsumer,
    NotYet,
    connect,
    ensure_events_stream,
    events_stream,
)
from preflog_messaging import consumer as consumer_module
from preflog_messaging.embedded import EmbeddedNats
from preflog_observability.metrics import CONSUMER_REDELIVERIES
from preflog_testing.waiting import eventually

META = Metadata(actor_id="u-1", actor_role="ADMIN")


def _event() -> DatasetCreated:
    return DatasetCreated(dataset_id=str(uuid.uuid4()), name="d")


async def _write_concurrently(
    store: EventStore, org: str, writers: int = 16, each: int = 25
) -> list[str]:
    ids: list[str] = []

    async def writer(w: int) -> None:
        for i in range(each):
            r = await store.append(
                StreamWrite(f"dataset-w{(w + i) % 5}", [_event()], ANY), org_id=org, metadata=META
            )
            ids.extend(e.event_id for e in r.events)

    async def held() -> None:
        async with store.pool.acquire() as conn:
            tx = conn.transaction()
            await tx.start()
            r = await store.append(
                StreamWrite("dataset-held", [_event()], ANY), org_id=org, metadata=META, conn=conn
            )
            await asyncio.sleep(0.3)
            await tx.commit()
            ids.extend(e.event_id for e in r.events)

    await asyncio.gather(held(), *(writer(w) for w in range(writers)))
    return ids


async def _drain_stream(
    js: JetStreamContext, namespace: str, expected: int, timeout: float = 20
) -> list[RecordedEvent]:
    sub = await js.pull_subscribe(
        f"{namespace}.events.>",
        stream=events_stream(namespace),
        config=ConsumerConfig(ack_policy=AckPolicy.NONE),
    )
    out: list[RecordedEvent] = []
    deadline = asyncio.get_running_loop().time() + timeout
    while len(out) < expected and asyncio.get_running_loop().time() < deadline:
        try:
            msgs = await sub.fetch(500, timeout=0.5)
        except Exception:
            continue
        out.extend(msgspec.json.decode(m.data, type=RecordedEvent) for m in msgs)
    try:  # and nothing more arrives
        out.extend(
            msgspec.json.decode(m.data, type=RecordedEvent)
            for m in await sub.fetch(10, timeout=0.5)
        )
    except Exception:
        pass
    await sub.unsubscribe()
    return out


async def _run_until(
    task_stop: asyncio.Event, task: asyncio.Task[None], predicate, timeout: float = 20
) -> None:  # type: ignore[no-untyped-def]
    deadline = asyncio.get_running_loop().time() + timeout
    while not predicate():
        assert asyncio.get_running_loop().time() < deadline, "timed out"
        await asyncio.sleep(0.02)


async def _consume(consumer: EventConsumer, *, until: int) -> None:
    """Run ``consumer`` until it has processed ``until`` events, and a little longer (so a
    second apply would show), then stop it."""
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await _run_until(stop, task, lambda: consumer.processed >= until)
    await asyncio.sleep(0.3)
    stop.set()
    await task


@pytest.fixture
async def fresh_js(nc, fresh_namespace):  # type: ignore[no-untyped-def]
    js = nc.jetstream()
    await ensure_events_stream(js, fresh_namespace)
    yield js
    await js.delete_stream(events_stream(fresh_namespace))


async def test_relay_publishes_every_event_once_in_stream_order(
    fresh_store: EventStore, fresh_js: JetStreamContext, fresh_namespace: str, nc: Client
) -> None:
    org = str(uuid.uuid4())
    relay = Relay(fresh_store, nc, namespace=fresh_namespace, batch_size=37)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    ids = await _write_concurrently(fresh_store, org)
    got = await _drain_stream(fresh_js, fresh_namespace, len(ids))
    stop.set()
    await task
    assert sorted(e.event_id for e in got) == sorted(ids)
    per_stream: dict[str, list[int]] = defaultdict(list)
    for e in got:
        per_stream[e.stream_name].append(e.stream_position)
    assert all(p == sorted(p) for p in per_stream.values())


async def test_the_relays_leader_marks_where_the_time_is_in_the_log(
    fresh_store: EventStore, fresh_js: JetStreamContext, fresh_namespace: str, nc: Client
) -> None:
    # Two marks in one minute of last week: the leader thins them to the first.
    week_ago = datetime.now(UTC).replace(second=0) - timedelta(days=7)
    await fresh_store.pool.executemany(
        "insert into eventlog.time_marks (marked_at, position) values ($1, 0)",
        [(week_ago,), (week_ago + timedelta(seconds=5),)],
    )
    relay = Relay(fresh_store, nc, namespace=fresh_namespace, mark_interval=0.05)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))
    org = str(uuid.uuid4())

    async def marks() -> int:
        return int(await fresh_store.pool.fetchval("select count(*) from eventlog.time_marks"))

    async def old_marks() -> int:
        return int(
            await fresh_store.pool.fetchval(
                "select count(*) from eventlog.time_marks where marked_at < $1",
                week_ago + timedelta(days=1),
            )
        )

    await eventually(old_marks, lambda n: n == 1)
    await eventually(marks, lambda n: n >= 2)
    appended = await fresh_store.append(
        StreamWrite("dataset-m", [_event()], ANY), org_id=org, metadata=META
    )

    async def newest() -> asyncpg.Record:
        return await fresh_store.pool.fetchrow(
            "select marked_at, position from eventlog.time_marks order by marked_at desc limit 1"
        )

    await eventually(newest, lambda r: r["position"] >= appended.events[0].global_position)
    after = await marks()
    await asyncio.sleep(0.3)  # six intervals with nothing appended: no new mark
    stop.set()
    await task
    assert await marks() == after


async def test_the_relays_leader_prunes_expired_idempotency_keys(
    fresh_store: EventStore, fresh_js: JetStreamContext, fresh_namespace: str, nc: Client
) -> None:
    # Three keys past their window and one within it; batches of one, each round.
    org = str(uuid.uuid4())
    ages = {"old-1": 25, "old-2": 26, "old-3": 48, "live": 23}
    await fresh_store.pool.executemany(
        "insert into eventlog.idempotency (org_id, actor_id, key, result, created_at)"
        " values ($1::uuid, 'u-1', $2, '{\"result\": null}', now() - $3::interval)",
        [(org, key, timedelta(hours=hours)) for key, hours in ages.items()],
    )
    relay = Relay(fresh_store, nc, namespace=fresh_namespace, prune_batch=1)
    stop = asyncio.Event()
    task = asyncio.create_task(relay.run(stop))

    async def keys() -> list[str]:
        rows = await fresh_store.pool.fetch("select key from eventlog.idempotency")
        return [r["key"] for r in rows]

    # A full batch is followed by another on the next round, not after prune_interval.
    left = await eventually(keys, lambda left: left == ["live"], timeout=5)
    stop.set()
    await task
    assert left == ["live"]


async def test_relay_crash_between_publish_and_checkpoint_loses_nothing_and_consumers_apply_once(
    fresh_store: EventStore,
    fresh_js: JetStreamContext,
    nc: Client,
    fresh_namespace: str,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    org = str(uuid.uuid4())
    ids = [
        e.event_id
        for _ in range(50)
        for e in (
            await fresh_store.append(
                StreamWrite("dataset-c", [_event()], ANY), org_id=org, metadata=META
            )
        ).events
    ]
    relay = Relay(fresh_store, nc, namespace=fresh_namespace, batch_size=20)
    real_save = relay_module.save_checkpoint

    async def crash(*args, **kwargs):  # type: ignore[no-untyped-def]
        raise ConnectionError("relay died after publishing, before its checkpoint")

    monkeypatch.setattr(relay_module, "save_checkpoint", crash)
    async with fresh_store.pool.acquire() as conn:
        with pytest.raises(ConnectionError):
            await relay.relay_once(conn)  # 20 published, checkpoint not moved
    monkeypatch.setattr(relay_module, "save_checkpoint", real_save)
    relayed = 0

    async def relay_more() -> int:
        nonlocal relayed
        async with fresh_store.pool.acquire() as conn:
            relayed += await relay.relay_once(conn)
        return relayed

    await eventually(relay_more, lambda n: n >= len(ids))
    got = await _drain_stream(fresh_js, fresh_namespace, len(ids))
    assert sorted(e.event_id for e in got) == sorted(
        ids
    )  # JetStream dropped the republished duplicates

    # A consumer that also receives a duplicate (different msg id, same event) applies it once.
    await fresh_store.pool.execute("create table public.applied (event_id uuid primary key)")
    await fresh_js.publish(
        f"{fresh_namespace}.events.dataset.DatasetCreated", msgspec.json.encode(got[0])
    )

    async def effect(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        await conn.execute(
            "insert into public.applied values ($1::uuid)", event.event_id
        )  # fails on a 2nd apply

    consumer = EventConsumer(
        fresh_js, fresh_store.pool, namespace=fresh_namespace, durable="crashtest", handler=effect
    )
    await _consume(consumer, until=50)
    assert await fresh_store.pool.fetchval("select count(*) from public.applied") == 50


async def test_category_consumers_are_filtered_on_the_server_and_apply_each_event_once(
    fresh_store: EventStore, fresh_js: JetStreamContext, fresh_namespace: str, nc: Client
) -> None:
    """Independent categories get one filtered durable each: the other categories' traffic
    is never delivered (JetStream's own counts say so), and a redelivery applies nothing."""
    org = str(uuid.uuid4())
    wanted: list[str] = []
    for i in range(30):
        for stream, keep in ((f"dataset-{i}", True), (f"label-{i}", False), (f"datarow-{i}", True)):
            r = await fresh_store.append(StreamWrite(stream, [_event()]), org_id=org, metadata=META)
            if keep:
                wanted.extend(e.event_id for e in r.events)
    relay = Relay(fresh_store, nc, namespace=fresh_namespace)
    async with fresh_store.pool.acquire() as conn:
        assert await relay.relay_once(conn) == 90
    await fresh_store.pool.execute(
        "create table public.applied (event_id uuid primary key, category text)"
    )

    async def effect(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        await conn.execute(
            "insert into public.applied values ($1::uuid, $2)", event.event_id, event.category
        )

    consumer = EventConsumer(
        fresh_js,
        fresh_store.pool,
        namespace=fresh_namespace,
        durable="catalog",
        handler=effect,
        categories=("dataset", "datarow"),
        independent=True,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await _run_until(stop, task, lambda: consumer.processed >= 60)
    # A republished event (new message, same event) finds its inbox row.
    first = (await _drain_stream(fresh_js, fresh_namespace, 90))[0]
    await fresh_js.publish(
        f"{fresh_namespace}.events.dataset.DatasetCreated", msgspec.json.encode(first)
    )
    await asyncio.sleep(0.5)
    stop.set()
    await task
    rows = await fresh_store.pool.fetch("select event_id::text, category from public.applied")
    assert sorted(r[0] for r in rows) == sorted(wanted)
    stream = events_stream(fresh_namespace)
    infos = {
        c: await fresh_js.consumer_info(stream, f"catalog_{c}") for c in ("dataset", "datarow")
    }
    assert {c: i.config.filter_subject for c, i in infos.items()} == {
        c: f"{fresh_namespace}.events.{c}.>" for c in ("dataset", "datarow")
    }
    assert all(i.num_pending == 0 and i.num_ack_pending == 0 for i in infos.values())
    # Each durable was handed its own category only (the dataset one also the republished copy).
    assert {c: i.delivered.consumer_seq for c, i in infos.items()} == {"dataset": 31, "datarow": 30}


async def test_consumer_resumes_by_itself_after_a_nats_restart(
    fresh_database_url: str, tmp_path: Path
) -> None:
    server = EmbeddedNats(tmp_path / "nats")
    server.start()
    pool = await create_pool(fresh_database_url)
    nc = await connect(server.url)
    try:
        js = nc.jetstream()
        ns = "restart"
        await ensure_events_stream(js, ns)
        await pool.execute("create table public.applied (event_id uuid primary key)")

        async def effect(conn: asyncpg.Connection, event: RecordedEvent) -> None:
            await conn.execute("insert into public.applied values ($1::uuid)", event.event_id)

        store = EventStore(pool)
        relay = Relay(store, nc, namespace=ns)
        consumer = EventConsumer(js, pool, namespace=ns, durable="restart", handler=effect)
        stop = asyncio.Event()
        tasks = [asyncio.create_task(relay.run(stop)), asyncio.create_task(consumer.run(stop))]
        org = str(uuid.uuid4())
        for _ in range(10):
            await store.append(StreamWrite("dataset-r", [_event()], ANY), org_id=org, metadata=META)
        await _run_until(stop, tasks[1], lambda: consumer.processed >= 10)
        await asyncio.to_thread(server.restart)  # the consumer is pulling right now
        for _ in range(10):
            await store.append(StreamWrite("dataset-r", [_event()], ANY), org_id=org, metadata=META)
        await _run_until(stop, tasks[1], lambda: consumer.processed >= 20, timeout=30)
        stop.set()
        await asyncio.gather(*tasks)
        assert await pool.fetchval("select count(*) from public.applied") == 20
    finally:
        await nc.close()
        await pool.close()
        server.stop()


async def test_embedded_servers_append_relay_and_consume(tmp_path: Path) -> None:
    pg = EmbeddedPostgres(tmp_path / "pg")
    admin = await asyncio.to_thread(pg.start)
    nats_server = EmbeddedNats(tmp_path / "nats")
    nats_server.start()
    try:
        await migrate(admin)
        pool = await create_pool(admin)
        nc = await connect(nats_server.url)
        js = nc.jetstream()
        await ensure_events_stream(js, "emb")
        seen: list[str] = []

        async def effect(conn: asyncpg.Connection, event: RecordedEvent) -> None:
            seen.append(event.event_id)

        store = EventStore(pool)
        stop = asyncio.Event()
        consumer = EventConsumer(js, pool, namespace="emb", durable="emb", handler=effect)
        tasks = [
            asyncio.create_task(Relay(store, nc, namespace="emb").run(stop)),
            asyncio.create_task(consumer.run(stop)),
        ]
        result = await store.append(
            StreamWrite("dataset-e", [_event(), _event()], ANY),
            org_id=str(uuid.uuid4()),
            metadata=META,
        )
        await _run_until(stop, tasks[1], lambda: len(seen) >= 2)
        stop.set()
        await asyncio.gather(*tasks)
        assert seen == [e.event_id for e in result.events]
        await nc.close()
        await pool.close()
    finally:
        nats_server.stop()
        await asyncio.to_thread(pg.stop)


async def test_a_consumer_of_some_types_applies_only_those_once_each(
    fresh_store: EventStore, fresh_js: JetStreamContext, fresh_namespace: str, nc: Client
) -> None:
    """Types the handler does not act on are acked unread (no inbox row); the inbox rows of a
    batch are written in one statement and an event repeated within a batch applies once."""
    org = str(uuid.uuid4())
    wanted = []
    for i in range(15):
        r = await fresh_store.append(
            StreamWrite(f"dataset-t{i}", [_event()]), org_id=org, metadata=META
        )
        wanted.extend(e.event_id for e in r.events)
        await fresh_store.append(
            StreamWrite(
                f"dataset-u{i}", [ImportFailed(import_id=f"u{i}", dataset_id="d", reason="r")]
            ),
            org_id=org,
            metadata=META,
        )
    relay = Relay(fresh_store, nc, namespace=fresh_namespace)
    async with fresh_store.pool.acquire() as conn:
        assert await relay.relay_once(conn) == 30
    first = next(
        e
        for e in await _drain_stream(fresh_js, fresh_namespace, 30)
        if e.event_type == "DatasetCreated"
    )
    for _ in range(2):  # the same event twice more, so one batch holds it thrice
        await fresh_js.publish(
            f"{fresh_namespace}.events.dataset.DatasetCreated", msgspec.json.encode(first)
        )
    await fresh_store.pool.execute("create table public.applied (event_id uuid primary key)")

    calls: list[str] = []

    async def effect(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        calls.append(event.event_id)  # a failed batch retried one by one would call again
        await conn.execute("insert into public.applied values ($1::uuid)", event.event_id)

    consumer = EventConsumer(
        fresh_js,
        fresh_store.pool,
        namespace=fresh_namespace,
        durable="typed",
        handler=effect,
        types=("DatasetCreated",),
    )
    await _consume(consumer, until=17)
    applied = await fresh_store.pool.fetch("select event_id::text from public.applied")
    assert sorted(r[0] for r in applied) == sorted(wanted) == sorted(calls)
    inbox = await fresh_store.pool.fetchval(
        "select count(*) from eventlog.inbox where consumer = 'typed'"
    )
    assert inbox == 15


async def test_a_batch_handler_gets_each_batch_of_new_events_in_one_call_in_order(
    fresh_store: EventStore, fresh_js: JetStreamContext, fresh_namespace: str, nc: Client
) -> None:
    """With ``batch_handler`` the new events of a fetched batch come in one call, in log order,
    a repeat among them once; the batch's inbox rows commit with what the handler wrote."""
    org = str(uuid.uuid4())
    written = []
    for i in range(15):
        r = await fresh_store.append(
            StreamWrite(f"dataset-b{i}", [_event()]), org_id=org, metadata=META
        )
        written.extend(e.event_id for e in r.events)
    relay = Relay(fresh_store, nc, namespace=fresh_namespace)
    async with fresh_store.pool.acquire() as conn:
        assert await relay.relay_once(conn) == 15
    [first, *_] = await _drain_stream(fresh_js, fresh_namespace, 15)
    await fresh_js.publish(
        f"{fresh_namespace}.events.dataset.DatasetCreated", msgspec.json.encode(first)
    )
    await fresh_store.pool.execute("create table public.batched (event_id uuid primary key)")
    calls: list[list[str]] = []

    async def apply(conn: asyncpg.Connection, events: list[RecordedEvent]) -> None:
        calls.append([e.event_id for e in events])
        await conn.executemany(
            "insert into public.batched values ($1::uuid)", [(e.event_id,) for e in events]
        )

    consumer = EventConsumer(
        fresh_js,
        fresh_store.pool,
        namespace=fresh_namespace,
        durable="batched",
        batch_handler=apply,
    )
    await _consume(consumer, until=15)
    assert [i for call in calls for i in call] == written  # each once, in log order
    assert len(calls) < len(written)
    stored = await fresh_store.pool.fetch("select event_id::text from public.batched")
    assert sorted(r[0] for r in stored) == sorted(written)
    with pytest.raises(TypeError):
        EventConsumer(fresh_js, fresh_store.pool, namespace=fresh_namespace, durable="neither")


async def test_an_idle_consumer_keeps_its_subscription_and_takes_the_next_event(
    fresh_store: EventStore, fresh_js: JetStreamContext, fresh_namespace: str, nc: Client
) -> None:
    """Empty fetches are not failures. With a fetch deadline this short, nats-py's fetch runs
    out of time before its second request and raises asyncio's TimeoutError rather than its
    own; the consumer once took that for a broken subscription, dropped it and waited 0.5 s
    before subscribing again (an event arriving then waited too)."""
    org = str(uuid.uuid4())
    applied: list[str] = []

    async def effect(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        applied.append(event.event_id)

    consumer = EventConsumer(
        fresh_js,
        fresh_store.pool,
        namespace=fresh_namespace,
        durable="idle",
        handler=effect,
        fetch_timeout=0.001,
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await asyncio.sleep(1.0)  # idle: hundreds of empty fetches
    written = await fresh_store.append(
        StreamWrite("dataset-idle", [_event()], ANY), org_id=org, metadata=META
    )
    relay = Relay(fresh_store, nc, namespace=fresh_namespace)
    async with fresh_store.pool.acquire() as conn:
        assert await relay.relay_once(conn) == 1
    await _run_until(stop, task, lambda: consumer.processed >= 1)
    stop.set()
    await task
    assert applied == [written.events[0].event_id]
    assert consumer.resubscribed == 0


async def test_a_batch_longer_than_the_ack_wait_is_not_handed_to_another_instance(
    fresh_store: EventStore, fresh_js: JetStreamContext, fresh_namespace: str, nc: Client
) -> None:
    """The ack wait is short (a dead instance's events come back soon), so a live instance
    keeps its batch in progress while it works: a second instance on the same durable never
    receives it, however long the handler takes."""
    org = str(uuid.uuid4())
    handled: list[tuple[str, str]] = []

    def handler(name: str):  # type: ignore[no-untyped-def]
        async def effect(conn: asyncpg.Connection, event: RecordedEvent) -> None:
            handled.append((name, event.event_id))
            await asyncio.sleep(4.0)  # more than twice the ack wait

        return effect

    written = await fresh_store.append(
        StreamWrite("dataset-slow", [_event()], ANY), org_id=org, metadata=META
    )
    relay = Relay(fresh_store, nc, namespace=fresh_namespace)
    async with fresh_store.pool.acquire() as conn:
        assert await relay.relay_once(conn) == 1
    first, second = (
        EventConsumer(
            fresh_js,
            fresh_store.pool,
            namespace=fresh_namespace,
            durable="slow",
            handler=handler(name),
            ack_wait_seconds=1.5,  # "in progress" every 0.5 s: a stalled loop has 1 s to spare
        )
        for name in ("first", "second")
    )
    redelivered = CONSUMER_REDELIVERIES.labels("slow")._value.get()
    stop = asyncio.Event()
    one = asyncio.create_task(first.run(stop))
    await _run_until(stop, one, lambda: bool(handled))
    two = asyncio.create_task(second.run(stop))
    await _run_until(stop, one, lambda: first.processed >= 1)
    await asyncio.sleep(2.0)  # past another ack wait: a redelivery would have come by now
    stop.set()
    await asyncio.gather(one, two)
    assert handled == [("first", written.events[0].event_id)]
    # Handed out again, the second would have met the first's inbox row and applied nothing
    # (so ``handled`` alone cannot tell), but it would have taken the message.
    assert second.processed == 0
    assert CONSUMER_REDELIVERIES.labels("slow")._value.get() == redelivered
    info = await fresh_js.consumer_info(events_stream(fresh_namespace), "slow")
    assert info.num_ack_pending == 0


async def test_a_durable_made_with_another_ack_wait_takes_the_current_one(
    fresh_store: EventStore, fresh_js: JetStreamContext, fresh_namespace: str
) -> None:
    """A durable made by an earlier version (30 s) is brought to this version's ack wait."""
    await ensure_events_stream(fresh_js, fresh_namespace)
    stream = events_stream(fresh_namespace)
    await fresh_js.add_consumer(
        stream,
        config=ConsumerConfig(durable_name="old", ack_policy=AckPolicy.EXPLICIT, ack_wait=30),
    )

    async def effect(conn: asyncpg.Connection, event: RecordedEvent) -> None:
        return None

    consumer = EventConsumer(
        fresh_js, fresh_store.pool, namespace=fresh_namespace, durable="old", handler=effect
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    seconds = await eventually(
        lambda: _ack_wait(fresh_js, stream, "old"), lambda s: s == consumer.ack_wait_seconds
    )
    stop.set()
    await task
    assert seconds == consumer.ack_wait_seconds < 30


async def _ack_wait(js: JetStreamContext, stream: str, durable: str) -> float | None:
    return (await js.consumer_info(stream, durable)).config.ack_wait


async def test_an_event_not_yet_applicable_comes_again_after_the_one_it_needs(
    fresh_store: EventStore,
    fresh_js: JetStreamContext,
    fresh_namespace: str,
    nc: Client,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A handler raising NotYet (an approval before the submission it approves, as after a
    crash) gets the event again later, once the event it needed is applied; one that never
    becomes applicable is dropped after NOT_YET_DELIVERIES, and the rest go on."""
    monkeypatch.setattr(consumer_module, "not_yet_delay", lambda deliveries: 0.05)
    monkeypatch.setattr(consumer_module, "NOT_YET_DELIVERIES", 4)
    org = str(uuid.uuid4())
    ids = []
    for i in range(4):
        r = await fresh_store.append(
            StreamWrite(f"dataset-n{i}", [_event()]), org_id=org, metadata=META
        )
        ids.extend(e.event_id for e in r.events)
    needs, needed, never, plain = ids
    relay = Relay(fresh_store, nc, namespace=fresh_namespace)
    async with fresh_store.pool.acquire() as conn:
        assert await relay.relay_once(conn) == 4
    applied: list[str] = []
    attempts: Counter[str] = Counter()

    async def apply(conn: asyncpg.Connection, events: list[RecordedEvent]) -> None:
        for e in events:
            attempts[e.event_id] += 1
            if e.event_id == never or (e.event_id == needs and needed not in applied):
                raise NotYet("waits")
        applied.extend(e.event_id for e in events)

    consumer = EventConsumer(
        fresh_js, fresh_store.pool, namespace=fresh_namespace, durable="notyet", batch_handler=apply
    )
    stop = asyncio.Event()
    task = asyncio.create_task(consumer.run(stop))
    await eventually(lambda: _value(attempts[never]), lambda n: n >= 4, timeout=20)
    await asyncio.sleep(0.5)
    dropped_at = attempts[never]
    await asyncio.sleep(0.5)  # dropped: not delivered again
    stop.set()
    await task
    assert applied.index(needed) < applied.index(needs)
    assert sorted(applied) == sorted([needs, needed, plain])  # each once
    assert attempts[never] == dropped_at >= 4
    inbox = await fresh_store.pool.fetch(
        "select event_id::text from eventlog.inbox where consumer = 'notyet'"
    )
    assert sorted(r[0] for r in inbox) == sorted([needs, needed, plain])


async def _value(n: int) -> int:
    return n
