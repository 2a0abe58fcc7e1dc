"""Benchmark: export a project of 200,000 approved labels as ``dpo`` through the service stream.

Seeds the export read model through the same ``ExportReadModel.apply`` the JetStream consumer
uses (events built in memory, applied in bulk), runs the export service in a subprocess,
and reads ``export`` with ``stream_call`` as fast as it can. Measures records/s, the serving
process's RSS growth (psutil), time to first byte, and the raw
``COPY (SELECT ...) TO STDOUT`` speed of the same read model for comparison.

    uv run python services/export/bench/export_bench.py [--tasks 200000]

Infrastructure as the tests find it (``PREFLOG_TEST_DATABASE_URL`` / ``PREFLOG_TEST_NATS_URL``,
local servers, or embedded ones); a database and namespace of its own, dropped at the end.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import subprocess
import sys
import time
import uuid
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import psutil

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.envelope import Metadata, RecordedEvent
from preflog_contracts.events.accounts import UserCreated
from preflog_contracts.events.base import Event, encode_event
from preflog_contracts.events.catalog import DataRowImported
from preflog_contracts.events.labels import (
    Crown,
    EditedResponse,
    LabelSnapshot,
    LabelSubmitted,
    RankEntry,
    Ranking,
    TaskCreated,
)
from preflog_contracts.events.projects import MemberAdded, ProjectCreated
from preflog_contracts.events.review import LabelApproved, TaskStatusChanged
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.export import ExportRequest
from preflog_eventstore import migrate
from preflog_export.adapters.read_model import ExportReadModel
from preflog_messaging import delete_namespace_streams
from preflog_messaging.connection import connect
from preflog_messaging.rpc import CallContext, RpcClient
from preflog_messaging.streams import stream_call

T0 = datetime(2025, 1, 1, tzinfo=UTC)
WORDS = "the quick brown fox jumps over the lazy dog while models argue about recursion".split()
ORG = str(uuid.uuid4())
PROJECT = "bench-project"
MANAGER = "bench-manager"


def sentence(seed: int, words: int) -> str:
    return " ".join(WORDS[(seed * 7 + i) % len(WORDS)] for i in range(words))


class Recorder:
    """Builds RecordedEvents as the log would hand them to the consumer."""

    def __init__(self) -> None:
        self.position = 0

    def record(self, stream: str, event: Event, actor: str, **scope: str) -> RecordedEvent:
        self.position += 1
        return RecordedEvent(
            global_position=self.position,
            tx_id=self.position,
            stream_name=stream,
            stream_position=0,
            event_type=type(event).__name__,
            schema_version=type(event).schema_version,
            org_id=ORG,
            event_id=str(uuid.uuid4()),
            data=msgspec.Raw(encode_event(event)),
            metadata=Metadata(actor_id=actor, actor_role="MEMBER", project_id=PROJECT, **scope),
            recorded_at=T0 + timedelta(seconds=self.position),
        )


def task_events(rec: Recorder, i: int) -> list[RecordedEvent]:
    """One task with one approved label: a four-message chat, three responses; half crowned
    (with an edit every fifth), half ranked — the formats bench's items."""
    row_id, task_id, label_id = f"row-{i}", f"task-{i}", f"label-{i}"
    messages = [
        Message(id="m1", role="system", content=[Part(kind="text", value="Be helpful.")]),
        Message(id="m2", role="user", content=[Part(kind="text", value=sentence(i, 30))]),
        Message(
            id="m3", role="assistant", content=[Part(kind="markdown", value=sentence(i + 1, 60))]
        ),
        Message(id="m4", role="user", content=[Part(kind="text", value=sentence(i + 2, 20))]),
    ]
    responses = [
        Response(
            id=f"r{k}",
            title=f"Response {k}",
            content=[Part(kind="markdown", value=sentence(i + k, 120))],
            model_config_name=f"model-{k}",
        )
        for k in range(3)
    ]
    row = DataRow(
        messages=messages,
        prompts=[PromptPoint(id="p1", after_message_id="m4", responses=responses)],
    )
    if i % 2 == 0:
        snapshot = LabelSnapshot(
            crowns=[Crown(prompt_id="p1", response_id=f"r{i % 3}")],
            responses=[
                EditedResponse(response_id="r1", content=[Part(kind="text", value="edited")])
            ]
            if i % 5 == 0
            else [],
        )
    else:
        snapshot = LabelSnapshot(
            rankings=[
                Ranking(
                    prompt_id="p1", ranking=[RankEntry(f"r{k}", (k + i) % 3 + 1) for k in range(3)]
                )
            ]
        )
    scope = {"task_id": task_id}
    return [
        rec.record(
            f"datarow-{row_id}",
            DataRowImported(
                data_row_id=row_id,
                dataset_id="ds",
                global_key=f"gk-{i}",
                row=row,
                source_format="native",
            ),
            "admin",
        ),
        rec.record(
            f"task-{task_id}",
            TaskCreated(task_id=task_id, project_id=PROJECT, data_row_id=row_id, batch_id="b1"),
            MANAGER,
            **scope,
        ),
        rec.record(
            f"label-{label_id}",
            LabelSubmitted(
                label_id=label_id,
                task_id=task_id,
                project_id=PROJECT,
                data_row_id=row_id,
                author_id="annotator",
                snapshot=snapshot,
            ),
            "annotator",
            **scope,
        ),
        rec.record(
            f"workflow-{task_id}",
            LabelApproved(label_id=label_id, task_id=task_id, project_id=PROJECT),
            "reviewer",
            **scope,
        ),
        rec.record(
            f"workflow-{task_id}",
            TaskStatusChanged(
                task_id=task_id, project_id=PROJECT, from_status="IN_REVIEW", to_status="DONE"
            ),
            "reviewer",
            **scope,
        ),
    ]


async def seed(dsn: str, namespace: str, tasks: int, chunk: int = 2000) -> float:
    model = ExportReadModel(namespace)
    rec = Recorder()
    started = time.perf_counter()
    conn = await asyncpg.connect(dsn)
    try:
        head = [
            rec.record(
                "user-m",
                UserCreated(user_id=MANAGER, email="m@example.com", name="M", org_role="MEMBER"),
                "admin",
            ),
            rec.record("project-p", ProjectCreated(project_id=PROJECT, name="bench"), MANAGER),
            rec.record(
                "project-p",
                MemberAdded(project_id=PROJECT, user_id=MANAGER, role="MANAGER"),
                MANAGER,
            ),
        ]
        async with conn.transaction():
            await model.apply(conn, head)
        for start in range(0, tasks, chunk):
            events = [
                e for i in range(start, min(start + chunk, tasks)) for e in task_events(rec, i)
            ]
            async with conn.transaction():
                await model.apply(conn, events)
        await conn.execute("analyze export.items")
    finally:
        await conn.close()
    return time.perf_counter() - started


async def copy_speed(dsn: str) -> tuple[float, int]:
    conn = await asyncpg.connect(dsn)
    size = 0

    async def sink(data: bytes) -> None:
        nonlocal size
        size += len(data)

    try:
        started = time.perf_counter()
        await conn.copy_from_query(
            "select export_seq, item from export.items where project_id = $1 order by export_seq",
            PROJECT,
            output=sink,
        )
        return time.perf_counter() - started, size
    finally:
        await conn.close()


async def serve(database_url: str, nats_url: str, namespace: str) -> None:
    from preflog_export.bootstrap import build
    from preflog_messaging.runtime import open_runtime, start_parts
    from preflog_settings import load_settings

    settings = load_settings(database_url=database_url, nats_url=nats_url, namespace=namespace)
    runtime = await open_runtime(settings)
    parts = await build(runtime)
    stop = asyncio.Event()
    await start_parts([parts], stop)
    print("ready", flush=True)
    await asyncio.get_running_loop().run_in_executor(None, sys.stdin.read)


async def measure(
    nats_url: str, namespace: str, server: psutil.Process, records_expected: int
) -> dict[str, float]:
    nc = await connect(nats_url, name="export-bench-client")
    rpc = RpcClient(
        nc,
        namespace=namespace,
        secret=os.environ.get("PREFLOG_INTERNAL_SECRET", "preflog-dev-internal-secret"),
    )
    ctx = CallContext(identity=Identity(user_id=MANAGER, org_id=ORG))
    baseline = server.memory_info().rss
    peak = baseline
    sampling = True

    async def sample() -> None:
        nonlocal peak
        while sampling:
            peak = max(peak, server.memory_info().rss)
            await asyncio.sleep(0.02)

    sampler = asyncio.create_task(sample())
    records = cursors = 0
    first_byte = None
    started = time.perf_counter()
    body = ExportRequest(project_id=PROJECT, format="dpo")
    async for chunk in stream_call(rpc, "export", "export", body, ctx=ctx):
        if first_byte is None:
            first_byte = time.perf_counter() - started
        lines = chunk.count(b"\n")
        marks = chunk.count(b'{"_cursor"')
        cursors += marks
        records += lines - marks
    elapsed = time.perf_counter() - started
    sampling = False
    await sampler
    await nc.drain()
    assert records == records_expected, (records, records_expected)
    return {
        "elapsed": elapsed,
        "records": records,
        "ttfb": first_byte or 0.0,
        "rss_growth": (peak - baseline) / 2**20,
        "rss_baseline": baseline / 2**20,
    }


def line(
    bench: str, value: float, unit: str, limit: float, higher_is_better: bool, **context: object
) -> None:
    ratio = value / limit if higher_is_better else (limit / value if value else float("inf"))
    print(
        json.dumps(
            {
                "bench": bench,
                "value": round(value, 2),
                "unit": unit,
                "limit": limit,
                "ratio": round(ratio, 3),
                **context,
            }
        ),
        flush=True,
    )


async def main(tasks: int) -> None:
    from preflog_eventstore import create_database, drop_database, with_database
    from preflog_testing.infra import choose_infra

    infra = choose_infra()
    name = f"preflog_bench_{uuid.uuid4().hex[:8]}"
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    await create_database(infra.admin_dsn, name)
    dsn = with_database(infra.admin_dsn, name)
    server = None
    try:
        await migrate(dsn)
        seed_seconds = await seed(dsn, namespace, tasks)
        copy_seconds, copy_bytes = await copy_speed(dsn)
        server = subprocess.Popen(  # noqa: ASYNC220  (started once, before measuring)
            [sys.executable, __file__, "--serve", dsn, infra.nats_url, namespace],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        assert server.stdout is not None
        for text_line in server.stdout:
            if text_line.strip() == "ready":
                break
        result = await measure(infra.nats_url, namespace, psutil.Process(server.pid), 2 * tasks)
        rate = result["records"] / result["elapsed"]
        copy_rate = tasks / copy_seconds
        items_rate = tasks / result["elapsed"]
        context = {
            "tasks": tasks,
            "records": result["records"],
            "seed_seconds": round(seed_seconds, 1),
        }
        line(
            "export.dpo.records_per_s",
            rate,
            "records/s",
            50_000,
            True,
            **context,
            items_per_s=round(items_rate),
            copy_rows_per_s=round(copy_rate),
            vs_copy=round(items_rate / copy_rate, 3),
        )
        line(
            "export.dpo.server_rss_growth",
            result["rss_growth"],
            "MB",
            100,
            False,
            rss_baseline_mb=round(result["rss_baseline"], 1),
            **context,
        )
        line("export.dpo.time_to_first_byte", result["ttfb"] * 1000, "ms", 200, False, **context)
        line(
            "export.read_model.copy_rows_per_s",
            copy_rate,
            "rows/s",
            50_000,
            True,
            copy_mb=round(copy_bytes / 2**20, 1),
            **context,
        )
    finally:
        if server is not None:
            assert server.stdin is not None
            server.stdin.close()
            try:
                server.wait(10)
            except subprocess.TimeoutExpired:
                server.kill()
        nc = await connect(infra.nats_url)
        await delete_namespace_streams(nc.jetstream(), namespace)
        await nc.close()
        await drop_database(infra.admin_dsn, name)
        infra.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--tasks", type=int, default=200_000)
    parser.add_argument("--serve", nargs=3, metavar=("DSN", "NATS", "NAMESPACE"))
    args = parser.parse_args()
    if args.serve:
        asyncio.run(serve(*args.serve))
    else:
        asyncio.run(main(args.tasks))
