"""Bulk import benchmark: 100,000 generated conversations from an NDJSON file, end to end.

The file (4 messages, 2-4 model outputs of ~300 characters, Labelbox import rows) is sent
through the same chunked path the gateway uses (start_import, sequential import_chunk calls
over NATS) to the ingest service running in its own process (``service_runner.py``: the
service alone; the relay to JetStream is not running, it is asynchronous to imports). Done
means: every row accepted, its DataRowImported appended, and the dataset's count (the
catalog) equal to the rows sent. Reported beside the raw ``COPY`` speed of the same lines
into a plain table in the same database, and the service's RSS at 25k and 100k rows.

Prints one JSON object per line. ``PREFLOG_BENCH_ROWS`` changes the row count.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import msgspec
import psutil

from preflog_contracts.identity import Identity
from preflog_contracts.rpc.ingest import (
    MAX_CHUNK_BYTES,
    ChunkAck,
    CreateDatasetRequest,
    DatasetRef,
    DatasetView,
    ImportStartedView,
    StartImportRequest,
)
from preflog_eventstore import create_database, drop_database, migrate, with_database
from preflog_ingest.client import send_file
from preflog_messaging import (
    CallContext,
    RpcClient,
    connect,
    delete_namespace_streams,
    ensure_events_stream,
)
from preflog_testing.infra import choose_infra

ROWS = int(os.environ.get("PREFLOG_BENCH_ROWS", "100000"))
LIMIT_ROWS_PER_SECOND = 10_000
RSS_GROWTH_LIMIT = 1.25  # RSS at 100k rows over RSS at 25k rows
HERE = Path(__file__).resolve().parent
WORDS = (
    "the model answer explains why a vacuum with strong suction and a long battery life"
    " suits small apartments with hardwood floors while staying under budget"
).split()


def emit(
    bench: str,
    value: float,
    unit: str,
    limit: float | None = None,
    higher_is_better: bool = True,
    **extra: Any,
) -> None:
    line: dict[str, Any] = {"bench": bench, "value": round(value, 3), "unit": unit}
    if limit is not None:
        line["limit"] = limit
        ratio = value / limit if higher_is_better else limit / value if value else 0.0
        line["ratio"] = round(ratio, 3)
    line.update(extra)
    print(json.dumps(line), flush=True)


def text(rng: random.Random, chars: int) -> str:
    out: list[str] = []
    size = 0
    while size < chars:
        word = rng.choice(WORDS)
        out.append(word)
        size += len(word) + 1
    return " ".join(out)


def conversation(i: int, rng: random.Random) -> dict[str, Any]:
    messages = []
    for j in range(4):
        human = j % 2 == 1
        messages.append(
            {
                "messageId": f"message-{j}",
                "timestampUsec": 1_700_000_000 + j,
                "content": text(rng, 120),
                "user": {
                    "userId": "User 1" if human else "Bot 1",
                    "name": "User" if human else "Bot",
                },
                "align": "right" if human else "left",
                "canLabel": human,
            }
        )
    outputs = [
        {
            "title": f"Response {chr(65 + k)}",
            "content": text(rng, 300),
            "modelConfigName": f"model-{k}",
        }
        for k in range(rng.randint(2, 4))
    ]
    return {
        "row_data": {
            "type": "application/vnd.labelbox.conversational",
            "version": 1,
            "messages": messages,
            "modelOutputs": outputs,
        },
        "global_key": f"bench-{i}",
    }


def write_file(path: Path) -> int:
    rng = random.Random(7)
    encoder = msgspec.json.Encoder()
    with path.open("wb") as out:
        for i in range(ROWS):
            out.write(encoder.encode(conversation(i, rng)) + b"\n")
    return path.stat().st_size


async def copy_baseline(dsn: str, path: Path) -> float:
    """Raw COPY of the same lines (key, jsonb) into a plain table: the floor for comparison."""
    conn = await asyncpg.connect(dsn)
    try:
        await conn.execute("create table bench_copy (global_key text, data jsonb)")
        decoder = msgspec.json.Decoder()
        records = []
        with path.open("rb") as lines:
            for line in lines:
                records.append((decoder.decode(line)["global_key"], line.decode()))
        started = time.perf_counter()
        await conn.copy_records_to_table(
            "bench_copy", records=records, columns=["global_key", "data"]
        )
        elapsed = time.perf_counter() - started
        await conn.execute("drop table bench_copy")
        return len(records) / elapsed
    finally:
        await conn.close()


async def run() -> None:
    infra = choose_infra()
    database = f"preflog_bench_ingest_{uuid.uuid4().hex[:8]}"
    await create_database(infra.admin_dsn, database)
    dsn = with_database(infra.admin_dsn, database)
    namespace = f"bench{uuid.uuid4().hex[:8]}"
    workdir = Path(tempfile.mkdtemp(prefix="preflog-ingest-bench-"))
    path = workdir / "conversations.ndjson"
    service: subprocess.Popen[bytes] | None = None
    nc = None
    try:
        await migrate(dsn)
        size = write_file(path)
        nc = await connect(infra.nats_url, name="ingest-bench")
        js = nc.jetstream()
        await ensure_events_stream(js, namespace)
        env = {
            **os.environ,
            "PREFLOG_DATABASE_URL": dsn,
            "PREFLOG_NATS_URL": infra.nats_url,
            "PREFLOG_NAMESPACE": namespace,
            "PREFLOG_LOG_FORMAT": "json",
            "PREFLOG_LOG_LEVEL": "warning",
            "PREFLOG_DB_POOL_MAX": "4",
        }
        service = subprocess.Popen(  # noqa: ASYNC220  (started once, before timing)
            [sys.executable, str(HERE / "service_runner.py")], env=env, stdout=subprocess.PIPE
        )
        assert service.stdout is not None
        await asyncio.get_running_loop().run_in_executor(None, service.stdout.readline)
        process = psutil.Process(service.pid)
        rpc = RpcClient(
            nc,
            namespace=namespace,
            secret=env.get("PREFLOG_INTERNAL_SECRET", "preflog-dev-internal-secret"),
            timeout=60,
        )
        admin = Identity(user_id=str(uuid.uuid4()), org_id=str(uuid.uuid4()), org_role="ADMIN")
        ctx = CallContext(identity=admin, user_agent="ingest-bench")
        dataset = await rpc.call(
            "ingest",
            "create_dataset",
            CreateDatasetRequest(name="bench"),
            ctx=ctx,
            response_type=DatasetView,
        )
        rss_start = process.memory_info().rss
        cpu_start = process.cpu_times()
        started_at = time.perf_counter()
        started = await rpc.call(
            "ingest",
            "start_import",
            StartImportRequest(dataset_id=dataset.id, content_type="application/x-ndjson"),
            ctx=ctx,
            response_type=ImportStartedView,
        )
        rss: dict[str, int] = {}
        seq = 0
        ack: ChunkAck | None = None
        with path.open("rb") as body:
            async for ack, _ in send_file(rpc, ctx, started.import_id, body, MAX_CHUNK_BYTES):
                seq += 1
                for mark in (ROWS // 4, ROWS):
                    if ack.counts.received >= mark and str(mark) not in rss:
                        rss[str(mark)] = process.memory_info().rss
        elapsed = time.perf_counter() - started_at
        cpu_end = process.cpu_times()
        service_cpu = (cpu_end.user + cpu_end.system) - (cpu_start.user + cpu_start.system)
        assert ack is not None and ack.status == "COMPLETED", ack
        view = await rpc.call(
            "ingest",
            "get_dataset",
            DatasetRef(dataset_id=dataset.id),
            ctx=ctx,
            response_type=DatasetView,
        )
        check = await asyncpg.connect(dsn)
        appended = await check.fetchval(
            "select count(*) from eventlog.events where event_type = 'DataRowImported'"
            " and org_id = $1",
            admin.org_id,
        )
        await check.close()
        complete = ack.counts.accepted == ROWS and view.data_row_count == ROWS and appended == ROWS
        rate = ROWS / elapsed
        copy_rate = await copy_baseline(dsn, path)
        emit(
            "ingest.import_ndjson_end_to_end",
            rate,
            "rows/s",
            LIMIT_ROWS_PER_SECOND,
            rows=ROWS,
            file_mib=round(size / 2**20, 1),
            seconds=round(elapsed, 2),
            chunks=seq,
            service_cpu_share=round(service_cpu / elapsed, 2),
            accepted=ack.counts.accepted,
            events_appended=appended,
            catalog_count=view.data_row_count,
            complete=complete,
            copy_rows_per_second=round(copy_rate, 1),
            vs_copy=round(rate / copy_rate, 3),
        )
        emit(
            "ingest.copy_baseline_same_rows",
            copy_rate,
            "rows/s",
            note="asyncpg copy_records_to_table of the same lines into (text, jsonb)",
        )
        quarter, full = rss.get(str(ROWS // 4), 0), rss.get(str(ROWS), 0)
        emit(
            "ingest.service_rss_growth",
            full / quarter if quarter else 0.0,
            "x",
            RSS_GROWTH_LIMIT,
            higher_is_better=False,
            rss_start_mib=round(rss_start / 2**20, 1),
            rss_at_quarter_mib=round(quarter / 2**20, 1),
            rss_at_end_mib=round(full / 2**20, 1),
            quarter_rows=ROWS // 4,
            rows=ROWS,
        )
    finally:
        if service is not None:
            service.terminate()
            try:
                service.wait(15)
            except subprocess.TimeoutExpired:
                service.kill()
        if nc is not None:
            await delete_namespace_streams(nc.jetstream(), namespace)
            await nc.close()
        await drop_database(infra.admin_dsn, database)
        path.unlink(missing_ok=True)
        infra.close()


if __name__ == "__main__":
    asyncio.run(run())
