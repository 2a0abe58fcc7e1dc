"""Resuming after a cut (across a restart), following live approvals, and the JetStream feed."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

import asyncpg
from nats.js.api import AckPolicy, ConsumerConfig

from preflog_contracts.rpc.export import EnableExportFeed, ExportFeed, ExportRequest
from preflog_eventstore import EventStore
from preflog_messaging.streams import stream_call

from .conftest import Service, eventually, export_lines, parse_lines, seed_project, start_service


def records_of(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [line for line in lines if "_cursor" not in line]


async def test_a_cut_stream_resumes_exactly_after_its_last_cursor_across_a_restart(
    service: Service, store: EventStore, pool: asyncpg.Pool
) -> None:
    project = await seed_project(store, pool, 60, 60)
    rt, ctx, pid = service.runtime, project.manager_ctx, project.project_id
    full = records_of(await export_lines(rt, ctx, project_id=pid, format="dpo"))
    assert len(full) == 120
    # A second instance serves the first half; the test cuts the stream after three chunks,
    # keeping what came before the last cursor line (a cut chunk's tail is not received).
    second = await start_service(rt, chunk_bytes=2048)
    await service.parts.rpc.stop()  # type: ignore[union-attr]  (only `second` answers now)
    kept: list[dict[str, Any]] = []
    pending: list[dict[str, Any]] = []
    cursor = None
    chunks = 0
    body = ExportRequest(project_id=pid, format="dpo")
    async for chunk in stream_call(rt.rpc, "export", "export", body, ctx=ctx, window=1):
        for line in parse_lines(chunk):
            if "_cursor" in line:
                kept.extend(pending)
                pending.clear()
                cursor = line["_cursor"]
            else:
                pending.append(line)
        chunks += 1
        if chunks == 3:
            break
    assert cursor is not None and 0 < len(kept) < len(full)
    await second.close()  # the export service "restarts": a new instance, same database
    await service.parts.rpc.start()  # type: ignore[union-attr]
    rest = records_of(await export_lines(rt, ctx, project_id=pid, format="dpo", since=cursor))
    ids = [r["id"] for r in kept + rest]
    assert len(ids) == len(set(ids)), "nothing repeated"
    assert ids == [r["id"] for r in full], "nothing lost, same order"
    # Resuming from the final cursor gives nothing more.
    lines = await export_lines(rt, ctx, project_id=pid, format="dpo")
    final = [line["_cursor"] for line in lines if "_cursor" in line]
    assert (
        records_of(await export_lines(rt, ctx, project_id=pid, format="dpo", since=final[-1])) == []
    )


async def test_follow_emits_a_newly_approved_label_and_heartbeats(
    service: Service, store: EventStore, pool: asyncpg.Pool
) -> None:
    project = await seed_project(store, pool, 3, 1)
    rt, ctx, pid = service.runtime, project.manager_ctx, project.project_id
    body = ExportRequest(project_id=pid, format="dpo", follow=True, heartbeat_seconds=0.3)
    seen: list[dict[str, Any]] = []
    cursors = 0
    approved = False
    stream = stream_call(rt.rpc, "export", "export", body, ctx=ctx)

    async def read() -> None:
        nonlocal cursors, approved
        async for chunk in stream:
            for line in parse_lines(chunk):
                if "_cursor" in line:
                    cursors += 1
                    if cursors == 3 and not approved:
                        approved = True  # caught up and heartbeating: approve one more
                        await project.approve(1)
                else:
                    seen.append(line)
            if any(r["task_id"] == project.tasks[1] for r in seen) and cursors >= 4:
                return

    await asyncio.wait_for(read(), 30)
    await stream.aclose()
    assert {r["task_id"] for r in seen} == {project.tasks[0], project.tasks[1]}
    assert len(seen) == 4


async def test_feed_publishes_records_to_a_durable_consumer(
    service: Service, store: EventStore, pool: asyncpg.Pool
) -> None:
    project = await seed_project(store, pool, 4, 2)
    rt, pid = service.runtime, project.project_id
    feed = await rt.rpc.call(
        "export",
        "enable_export_feed",
        EnableExportFeed(project_id=pid, format="dpo"),
        ctx=project.manager_ctx,
        response_type=ExportFeed,
    )
    again = await rt.rpc.call(
        "export",
        "enable_export_feed",
        EnableExportFeed(project_id=pid, format="dpo"),
        ctx=project.manager_ctx,
        response_type=ExportFeed,
    )
    assert again.subject == feed.subject == f"{rt.settings.namespace}.exports.{pid}.dpo"
    durable = f"pipeline_{uuid.uuid4().hex[:8]}"
    sub = await rt.js.pull_subscribe(
        feed.subject,
        durable=durable,
        stream=feed.stream,
        config=ConsumerConfig(ack_policy=AckPolicy.EXPLICIT),
    )
    got: list[dict[str, Any]] = []

    async def drain(expected: int) -> None:
        deadline = asyncio.get_running_loop().time() + 30
        while len(got) < expected and asyncio.get_running_loop().time() < deadline:
            try:
                msgs = await sub.fetch(50, timeout=0.5)
            except Exception:
                continue
            for msg in msgs:
                got.append(json.loads(msg.data))
                await msg.ack()

    await drain(4)
    assert len(got) == 4 and {r["task_id"] for r in got} == set(project.tasks[:2])
    await project.approve(2)
    await drain(6)
    assert len(got) == 6 and got[-1]["task_id"] == project.tasks[2]
    audit = records_of(await export_lines(rt, project.manager_ctx, project_id=pid, format="audit"))
    assert sum(1 for r in audit if r["event_type"] == "ExportFeedEnabled") == 1
    await eventually(lambda: _published(pool, pid), timeout=10)


async def _published(pool: asyncpg.Pool, project_id: str) -> bool:
    value = await pool.fetchval(
        "select published_seq from export.feeds where project_id = $1", project_id
    )
    last = await pool.fetchval(
        "select last_seq from export.projects where project_id = $1", project_id
    )
    return bool(value == last)
