"""``make bench``: the foundation benchmark, then every ``services/*/bench/*_bench.py`` (the
helpers and diagnostics beside them, such as the import bench's service runner, are run by
those benches or by hand).

Every line printed is one JSON object: ``bench``, ``value``, ``unit``, ``limit`` and ``ratio``
(>= 1 means the issue's limit is met), plus the baseline measured in the same run where the
issue asks for one. Nothing here is a test: timings are reported, never asserted.
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

from preflog_contracts.envelope import Metadata
from preflog_contracts.events.labels import RankEntry, ResponsesRanked
from preflog_eventstore import (
    EventStore,
    ProjectionRunner,
    StreamWrite,
    create_database,
    create_pool,
    drop_database,
    migrate,
    with_database,
)
from preflog_eventstore.relay import Relay
from preflog_messaging import connect, ensure_events_stream, events_stream
from preflog_testing.infra import choose_infra

WRITERS = 32
PHASE_SECONDS = float(os.environ.get("PREFLOG_BENCH_SECONDS", "8"))
ROOT = Path(__file__).resolve().parents[4]
META = Metadata(actor_id="bench", actor_role="ANNOTATOR", correlation_id="bench")


def emit(bench: str, value: float, unit: str, limit: float | None = None, **extra: Any) -> None:
    line: dict[str, Any] = {"bench": bench, "value": round(value, 3), "unit": unit}
    if limit is not None:
        line["limit"] = limit
        line["ratio"] = round(value / limit, 3)
    line.update(extra)
    print(json.dumps(line), flush=True)


def _event() -> ResponsesRanked:
    return ResponsesRanked(
        label_id=str(uuid.uuid4()),
        prompt_id="p1",
        ranking=[RankEntry("response-a", 1), RankEntry("response-b", 2)],
    )


async def _append_phase(store: EventStore, per_command: int, writers: int = WRITERS) -> float:
    org = str(uuid.uuid4())
    deadline = time.perf_counter() + PHASE_SECONDS
    counts = [0] * writers

    async def writer(w: int) -> None:
        stream = f"label-{uuid.uuid4()}"
        version = -1
        while time.perf_counter() < deadline:
            await store.append(
                StreamWrite(stream, [_event() for _ in range(per_command)], version),
                org_id=org,
                metadata=META,
            )
            version += per_command
            counts[w] += per_command

    started = time.perf_counter()
    await asyncio.gather(*(writer(w) for w in range(writers)))
    return sum(counts) / (time.perf_counter() - started)


def _append_worker(dsn: str, writers: int, out: Any) -> None:
    """One process of the multi-process figure: ``writers`` single-event appenders."""

    async def run() -> float:
        pool = await create_pool(dsn, min_size=writers, max_size=writers + 2)
        try:
            return await _append_phase(EventStore(pool), 1, writers)
        finally:
            await pool.close()

    out.put(asyncio.run(run()))


def _append_processes(dsn: str, processes: int) -> float:
    """The same 32 writers split over ``processes`` processes (how services scale out)."""
    import multiprocessing

    ctx = multiprocessing.get_context("spawn")
    out = ctx.Queue()
    procs = [
        ctx.Process(target=_append_worker, args=(dsn, WRITERS // processes, out))
        for _ in range(processes)
    ]
    for p in procs:
        p.start()
    total = sum(out.get() for _ in procs)
    for p in procs:
        p.join()
    return total


class NoOp:
    name = "bench_noop"
    categories = None
    tables: tuple[str, ...] = ()

    async def apply(self, conn: Any, events: Any, tables_map: Any) -> None:
        return None


def _pgbench(dsn: str, script: str, rows_per_tx: int) -> float | None:
    binary = shutil.which("pgbench") or next(
        iter(sorted(Path("/usr/lib/postgresql").glob("*/bin/pgbench"))), None
    )
    if binary is None:
        return None
    with tempfile.NamedTemporaryFile("w", suffix=".sql", delete=False) as f:
        f.write(script)
    out = subprocess.run(
        [
            str(binary),
            "-n",
            "-c",
            str(WRITERS),
            "-j",
            "2",
            "-T",
            str(int(PHASE_SECONDS)),
            "-f",
            f.name,
            dsn,
        ],
        capture_output=True,
        text=True,
        check=False,
    )
    found = re.search(r"tps = ([0-9.]+)", out.stdout)
    return float(found.group(1)) * rows_per_tx if found else None


_ROW = (
    "(gen_random_uuid()::text, 0, 'ResponsesRanked', 1, gen_random_uuid(),"
    ' \'{"label_id":"x","prompt_id":"p1","ranking":[["response-a",1],["response-b",2]]}\','
    ' \'{"actor_id":"bench","actor_role":"ANNOTATOR"}\', gen_random_uuid())'
)
_PGBENCH_TABLE = """
create table if not exists pgbench_events (
  global_position bigint generated always as identity primary key,
  tx_id xid8 not null default pg_current_xact_id(), stream_name text not null,
  stream_position bigint not null, event_type text not null, schema_version smallint not null,
  org_id uuid not null, data jsonb not null, metadata jsonb not null, event_id uuid not null unique,
  recorded_at timestamptz not null default now(), unique (stream_name, stream_position))
"""
_COLUMNS = (
    "(stream_name, stream_position, event_type, schema_version, org_id, data, metadata, event_id)"
)


async def foundation(dsn: str, nats_url: str) -> None:
    await migrate(dsn)
    pool = await create_pool(dsn, min_size=WRITERS, max_size=WRITERS + 4)
    store = EventStore(pool)
    single = await _append_phase(store, 1)
    batched = await _append_phase(store, 100)

    await pool.execute(_PGBENCH_TABLE)
    pg_single = _pgbench(dsn, f"insert into pgbench_events {_COLUMNS} values {_ROW};\n", 1)
    pg_batched = _pgbench(
        dsn, f"insert into pgbench_events {_COLUMNS} values " + ",".join([_ROW] * 100) + ";\n", 100
    )
    emit(
        "eventstore.append.single",
        single,
        "events/s",
        8000,
        writers=WRITERS,
        pgbench_rows_per_s=pg_single,
        ratio_to_pgbench=round(single / pg_single, 3) if pg_single else None,
    )
    two_processes = await asyncio.to_thread(_append_processes, dsn, 2)
    emit(
        "eventstore.append.single.two_processes",
        two_processes,
        "events/s",
        8000,
        writers=WRITERS,
        processes=2,
        pgbench_rows_per_s=pg_single,
        ratio_to_pgbench=round(two_processes / pg_single, 3) if pg_single else None,
    )
    emit(
        "eventstore.append.batch100",
        batched,
        "events/s",
        40000,
        writers=WRITERS,
        pgbench_rows_per_s=pg_batched,
        ratio_to_pgbench=round(batched / pg_batched, 3) if pg_batched else None,
    )

    total = await pool.fetchval("select count(*) from eventlog.events")
    runner = ProjectionRunner(store, NoOp(), batch_size=5000)
    started = time.perf_counter()
    read = await runner.catch_up()
    emit(
        "eventstore.catch_up_read",
        read / (time.perf_counter() - started),
        "events/s",
        50000,
        events=read,
        log_size=total,
    )

    nc = await connect(nats_url)
    js = nc.jetstream()
    namespace = f"bench{uuid.uuid4().hex[:6]}"
    await ensure_events_stream(js, namespace)
    relay = Relay(store, nc, namespace=namespace, batch_size=5000)
    limit_events = min(total, 200_000)
    started = time.perf_counter()
    sent = 0
    async with pool.acquire() as conn:
        while sent < limit_events:
            n = await relay.relay_once(conn)
            if not n:
                break
            sent += n
    emit(
        "relay.publish_to_jetstream",
        sent / (time.perf_counter() - started),
        "events/s",
        20000,
        events=sent,
    )
    await js.delete_stream(events_stream(namespace))
    await nc.close()
    await pool.close()


async def _main() -> None:
    infra = choose_infra()
    name = f"preflog_bench_{uuid.uuid4().hex[:8]}"
    await create_database(infra.admin_dsn, name)
    try:
        await foundation(with_database(infra.admin_dsn, name), infra.nats_url)
    finally:
        await drop_database(infra.admin_dsn, name)
        infra.close()


def host_loop_seconds(iterations: int = 10_000_000, tries: int = 3) -> float:
    """The best of ``tries`` timings of a bare Python loop: how fast this host runs the
    interpreter today. The same machine kind has measured 0.17 to 0.48 s; the benches move
    with it, so figures of different days compare only beside this line."""
    best = float("inf")
    for _ in range(tries):
        started = time.perf_counter()
        for _ in range(iterations):
            pass
        best = min(best, time.perf_counter() - started)
    return best


def _emit_host(when: str) -> None:
    load = os.getloadavg()[0]
    emit(
        "host_python_loop_10m", host_loop_seconds(), "s", when=when, cores=os.cpu_count(), load=load
    )


def main() -> int:
    _emit_host("before")
    asyncio.run(_main())
    only = os.environ.get("PREFLOG_BENCH_ONLY")
    for script in sorted(ROOT.glob("services/*/bench/*_bench.py")):
        if only and only not in str(script):
            continue
        print(json.dumps({"bench": "run", "script": str(script.relative_to(ROOT))}), flush=True)
        subprocess.run([sys.executable, str(script)], check=False, cwd=ROOT)
    _emit_host("after")
    return 0


if __name__ == "__main__":
    sys.exit(main())
