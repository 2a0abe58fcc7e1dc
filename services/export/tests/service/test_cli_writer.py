"""``preflog export``'s writer on a real export stream: records only once confirmed by a
cursor, and a cut stream resumed from its cursor writes every record exactly once."""

from __future__ import annotations

import io
import json

import asyncpg

from preflog_cli.export_command import ConfirmedWriter
from preflog_contracts.rpc.export import ExportRequest
from preflog_eventstore import EventStore
from preflog_messaging.streams import stream_call

from .conftest import Service, export_lines, seed_project


async def test_cut_and_resumed_stream_writes_each_record_once(
    service: Service, store: EventStore, pool: asyncpg.Pool
) -> None:
    project = await seed_project(store, pool, 40, 40)
    rt, ctx, pid = service.runtime, project.manager_ctx, project.project_id
    full = [r["id"] for r in await export_lines(rt, ctx, project_id=pid, format="dpo") if "id" in r]
    out = io.BytesIO()
    writer = ConfirmedWriter(out)
    body = ExportRequest(project_id=pid, format="dpo")
    received = 0
    async for chunk in stream_call(rt.rpc, "export", "export", body, ctx=ctx, window=1):
        # Cut the connection in the middle of the third chunk, as a dropped TCP stream would.
        received += 1
        writer.feed(chunk if received < 3 else chunk[: len(chunk) // 2])
        if received == 3:
            break
    writer.cut()
    assert writer.cursor is not None and 0 < writer.records < len(full)
    resumed = ExportRequest(project_id=pid, format="dpo", since=writer.cursor)
    async for chunk in stream_call(rt.rpc, "export", "export", resumed, ctx=ctx):
        writer.feed(chunk)
    written = [json.loads(line)["id"] for line in out.getvalue().splitlines()]
    assert written == full
    assert writer.records == len(full)
