"""Every export stream leaves ExportCheckpointed in the log: who exported what, with which
filter, from where and how far; when it ends however it ends, and every minute while live.
A resumed stream that found nothing new leaves nothing."""

from __future__ import annotations

from typing import Any

import asyncpg
import msgspec
import pytest

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.rpc.export import ExportRequest
from preflog_eventstore import EventStore
from preflog_export.adapters import export_stream
from preflog_messaging import CallContext
from preflog_messaging.streams import stream_call

from .conftest import Service, eventually, parse_lines, seed_project, start_service


async def _checkpoints(
    store: EventStore, project_id: str, count: int
) -> list[tuple[RecordedEvent, dict[str, Any]]]:
    """The project's first ``count`` or more checkpoints (each appended a moment after its
    stream ended), with their data."""
    found: list[RecordedEvent] = []

    async def arrived() -> bool:
        found[:] = [
            r
            for r in await store.read_stream(f"export-{project_id}")
            if r.event_type == "ExportCheckpointed"
        ]
        return len(found) >= count

    await eventually(arrived)
    return [(r, msgspec.json.decode(r.data)) for r in found]


async def _export(service: Service, ctx: CallContext, body: ExportRequest) -> list[dict[str, Any]]:
    chunks = stream_call(service.runtime.rpc, "export", "export", body, ctx=ctx)
    return parse_lines(b"".join([c async for c in chunks]))


async def test_a_finished_and_a_cut_export_each_leave_a_checkpoint(
    service: Service, store: EventStore, pool: asyncpg.Pool
) -> None:
    project = await seed_project(store, pool, 30, 30)
    rt, pid = service.runtime, project.project_id
    ctx = msgspec.structs.replace(project.manager_ctx, user_agent="pairs-pipeline/2")
    lines = await _export(service, ctx, ExportRequest(project_id=pid, format="dpo"))
    records = [line for line in lines if "_cursor" not in line]
    [(finished, data)] = await _checkpoints(store, pid, 1)
    assert finished.metadata.actor_id == project.manager
    assert finished.metadata.actor_role == "MANAGER" and finished.metadata.project_id == pid
    assert data == {
        "project_id": pid,
        "format": "dpo",
        "consumer": "pairs-pipeline/2",
        "cursor": lines[-1]["_cursor"],
        "records": len(records),
        "since": "",
        "status": "APPROVED",
        "done": True,
    }
    # Resumed from its end: nothing new, and a poll that finds nothing leaves nothing.
    resume = ExportRequest(project_id=pid, format="dpo", since=data["cursor"])
    assert [line for line in await _export(service, ctx, resume) if "_cursor" not in line] == []

    # A client that stops reading after its first chunk: the stream is closed, and recorded.
    small = await start_service(rt, chunk_bytes=1024)
    await service.parts.rpc.stop()  # type: ignore[union-attr]  (only `small` answers now)
    try:
        cut = ExportRequest(project_id=pid, format="native", status="ALL")
        async for _chunk in stream_call(rt.rpc, "export", "export", cut, ctx=ctx, window=1):
            break
        _, (_, second) = await _checkpoints(store, pid, 2)  # not the empty poll's
        assert (second["format"], second["status"], second["done"]) == ("native", "ALL", True)
        assert 0 < second["records"] < 30 and second["cursor"] and second["since"] == ""
    finally:
        await small.close()
        await service.parts.rpc.start()  # type: ignore[union-attr]


async def test_a_live_export_checkpoints_while_it_runs(
    service: Service, store: EventStore, pool: asyncpg.Pool, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(export_stream, "CHECKPOINT_SECONDS", 0.0)
    project = await seed_project(store, pool, 3, 1)
    rt, pid = service.runtime, project.project_id
    ctx: CallContext = project.manager_ctx
    body = ExportRequest(project_id=pid, format="dpo", follow=True, heartbeat_seconds=0.2)
    stream = stream_call(rt.rpc, "export", "export", body, ctx=ctx)
    seen: list[dict[str, Any]] = []
    async for chunk in stream:
        seen += [line for line in parse_lines(chunk) if "_cursor" not in line]
        if len(seen) == 2:  # the first approved label's pairs: approve another
            await project.approve(1)
        if len(seen) == 4:
            break
    await stream.aclose()
    checkpoints: list[dict[str, Any]] = []

    async def ended() -> bool:
        checkpoints[:] = [data for _, data in await _checkpoints(store, pid, 1)]
        return checkpoints[-1]["done"]

    await eventually(ended)
    running = [c for c in checkpoints if not c["done"]]
    assert running and running[-1]["records"] >= 2  # while it ran, after the first pairs
    assert [c["done"] for c in checkpoints].count(True) == 1 and checkpoints[-1]["records"] == 4
