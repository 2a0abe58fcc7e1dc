"""Annotation actions through the labeling service over NATS, by 32 simulated annotators.

    uv run python services/labeling/bench/actions_bench.py [--seconds 20] [--annotators 32]

Makes its own database (migrated) and NATS namespace on the local (or PREFLOG_TEST_*) servers,
runs the labeling service (with the relay) in a child process, and drives it from this one
with RpcClient exactly as the gateway would: each annotator claims a task, issues a realistic
mix of rank (30%), crown (25%) and answer (45%) calls, submits after ~10 actions and claims
the next. Prints one JSON object per line:

- actions/s and p50/p99 latency of rank/crown/answer calls (limits 3000/s, 50 ms);
- read-model lag p99: from the action's reply (just after its commit) until the label read
  model (labeling.labels) holds that version, for every 5th action (limit 200 ms);
- where the machine's CPU went over the measured window, per action (the service, Postgres,
  NATS, the load generator), and so how many of these cores 3,000 actions/s would take;
- the raw ``EventStore.append`` figure (one event per append, 32 writers) from the same run.

``--instances N`` runs N service processes; calls carry the annotator as their affinity key, as
the gateway's do (``--no-affinity``: to the queue group only).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import signal
import sys
import time
import uuid
from typing import Any

import asyncpg

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.errors import Conflict
from preflog_contracts.events.catalog import DataRowImported, DatasetCreated
from preflog_contracts.events.labels import Target
from preflog_contracts.events.projects import Option, Question
from preflog_contracts.identity import Identity
from preflog_contracts.rpc import labeling as api
from preflog_eventstore import StreamWrite, create_database, drop_database, migrate, with_database
from preflog_messaging import CallContext, delete_namespace_streams
from preflog_messaging.runtime import open_runtime, run
from preflog_settings import load_settings
from preflog_testing.idle import common_role, cpu_in_window, cpu_per_operation, settle
from preflog_testing.infra import choose_infra

QUESTIONS = [
    Question(id="overall", title="Overall", kind="RADIO", options=[Option(value=v) for v in ("A", "B", "C", "tie")]),
    Question(id="helpful", title="Helpful", kind="SCALE", scope="RESPONSE", min=1, max=5, step=1),
    Question(id="safe", title="Safe", kind="YES_NO"),
]
RESPONSES = 3
WARMUP = 3.0
# Tasks loaded per second of the run: one task takes 8-12 actions, so this covers 5,000+ actions/s.
ROW_SUPPLY_PER_SECOND = 500


def row(i: int) -> DataRow:
    return DataRow(
        messages=[Message(id="m1", role="user", content=[Part(kind="text", value=f"prompt {i}")])],
        prompts=[
            PromptPoint(
                id="p",
                after_message_id="m1",
                responses=[
                    Response(
                        id=f"r{j}",
                        title=f"Response {j}",
                        content=[Part(kind="text", value=f"answer {j} " * 20)],
                        model_config_name=f"model-{j}",
                    )
                    for j in range(RESPONSES)
                ],
            )
        ],
    )


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def emit(name: str, value: float, unit: str, limit: float, higher_is_better: bool, **context: Any) -> None:
    ratio = (value / limit if higher_is_better else limit / value) if value else 0.0
    print(
        json.dumps(
            {"bench": name, "value": round(value, 2), "unit": unit, "limit": limit, "ratio": round(ratio, 3), **context}
        ),
        flush=True,
    )


async def serve() -> None:
    """The child process: the labeling service and the relay, until SIGTERM."""
    from preflog_eventstore.relay import Relay
    from preflog_labeling.bootstrap import build
    from preflog_messaging.runtime import start_parts, stop_parts

    settings = load_settings()
    rt = await open_runtime(settings)
    parts = await build(rt)
    stop = asyncio.Event()
    asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
    tasks = await start_parts([parts], stop)
    tasks.append(asyncio.create_task(Relay(rt.store, rt.nc, namespace=settings.namespace).run(stop)))
    profiler = None
    if os.environ.get("BENCH_PROFILE"):
        import cProfile

        profiler = cProfile.Profile()
        profiler.enable()
    print("ready", flush=True)
    await stop.wait()
    if profiler is not None:
        profiler.disable()
        profiler.dump_stats(os.environ["BENCH_PROFILE"])
    await stop_parts([parts], tasks, stop)
    await rt.close()


class Annotator:
    def __init__(self, rt: Any, who: Identity, project_id: str, affinity: bool = True) -> None:
        self.rt = rt
        self.who = who
        self.project_id = project_id
        self.ctx = CallContext(identity=who, user_agent="bench")
        # As the gateway calls: each user's calls to the instance that serves them.
        self.affinity = who.user_id if affinity else None
        self.latencies: list[float] = []
        self.conflicts = 0
        self.ran_out = False

    async def call(self, op: str, body: Any, rtype: Any = Any) -> Any:
        return await self.rt.rpc.call("labeling", op, body, ctx=self.ctx, response_type=rtype, affinity=self.affinity)

    async def run(self, until: float, measure_from: float, samples: list[tuple[str, int, float]]) -> None:
        rnd = random.Random(self.who.user_id)
        n = 0
        while time.perf_counter() < until:
            task = await self.call("claim_next_task", api.ProjectRef(project_id=self.project_id), api.TaskView | None)
            if task is None:
                self.ran_out = True
                return
            for _ in range(rnd.randint(8, 12)):
                pick = rnd.random()
                ids = [f"r{j}" for j in range(RESPONSES)]
                body: Any
                if pick < 0.30:
                    rnd.shuffle(ids)
                    op, body = (
                        "rank_responses",
                        api.RankResponsesRequest(
                            task_id=task.id,
                            ranking=[api.RankInput(response_id=r, rank=k + 1) for k, r in enumerate(ids)],
                        ),
                    )
                elif pick < 0.55:
                    op, body = "crown_response", api.CrownResponseRequest(task_id=task.id, response_id=rnd.choice(ids))
                elif pick < 0.75:
                    op, body = (
                        "answer_question",
                        api.AnswerQuestionRequest(
                            task_id=task.id,
                            question_id="helpful",
                            answer=rnd.randint(1, 5),
                            target=Target(response_id=rnd.choice(ids)),
                        ),
                    )
                elif pick < 0.90:
                    op, body = (
                        "answer_question",
                        api.AnswerQuestionRequest(
                            task_id=task.id, question_id="overall", answer=rnd.choice(["A", "B", "C", "tie"])
                        ),
                    )
                else:
                    op, body = (
                        "answer_question",
                        api.AnswerQuestionRequest(task_id=task.id, question_id="safe", answer=rnd.random() < 0.9),
                    )
                started = time.perf_counter()
                try:
                    label = await self.call(op, body, api.LabelView)
                except Conflict:
                    self.conflicts += 1
                    continue
                done = time.perf_counter()
                if started >= measure_from and done < until:
                    self.latencies.append(done - started)
                    n += 1
                    if n % 5 == 0:
                        samples.append((label.id, label.version, done))
            await self.call("submit_label", api.TaskRef(task_id=task.id), api.LabelView)


async def watch_lag(
    pool: asyncpg.Pool, samples: list[tuple[str, int, float]], lags: list[float], stop: asyncio.Event
) -> None:
    """Poll the label read model for sampled (label, version) pairs; record when each shows."""
    pending: dict[tuple[str, int], float] = {}
    seen = 0
    while not stop.is_set() or pending or seen < len(samples):
        for s in samples[seen:]:
            pending[(s[0], s[1])] = s[2]
        seen = len(samples)
        if pending:
            rows = await pool.fetch(
                "select label_id, version from labeling.labels where label_id = any($1::text[])",
                list({k[0] for k in pending}),
            )
            now = time.perf_counter()
            versions = {r[0]: r[1] for r in rows}
            for key in [k for k in pending if versions.get(k[0], -1) >= k[1]]:
                lags.append(now - pending.pop(key))
            if stop.is_set() and pending and not rows:
                break
        await asyncio.sleep(0.003)


async def raw_appends(store: Any, org_id: str, seconds: float, writers: int) -> tuple[float, list[float]]:
    meta = Metadata(actor_id="bench", actor_role="SYSTEM")
    latencies: list[float] = []
    end = time.perf_counter() + seconds

    async def writer() -> None:
        while time.perf_counter() < end:
            started = time.perf_counter()
            await store.append(
                StreamWrite(stream_name("dataset", str(uuid.uuid4())), [DatasetCreated(dataset_id="x", name="raw")]),
                org_id=org_id,
                metadata=meta,
            )
            latencies.append(time.perf_counter() - started)

    t0 = time.perf_counter()
    await asyncio.gather(*(writer() for _ in range(writers)))
    return len(latencies) / (time.perf_counter() - t0), latencies


async def main(seconds: float, annotators: int, instances: int = 1, affinity: bool = True) -> None:
    infra = choose_infra()
    db = f"preflog_bench_labeling_{uuid.uuid4().hex[:8]}"
    await create_database(infra.admin_dsn, db)
    dsn = with_database(infra.admin_dsn, db)
    await migrate(dsn)
    namespace = f"benchlab{uuid.uuid4().hex[:6]}"
    env = {
        **os.environ,
        "PREFLOG_DATABASE_URL": dsn,
        "PREFLOG_NATS_URL": infra.nats_url,
        "PREFLOG_NAMESPACE": namespace,
        "PREFLOG_DB_POOL_MAX": "24",
        "PREFLOG_LOG_LEVEL": "warning",
        "PREFLOG_LOG_FORMAT": "json",
    }
    rt = None
    children = [
        await asyncio.create_subprocess_exec(
            sys.executable, __file__, "--serve", env=env, stdout=asyncio.subprocess.PIPE
        )
        for _ in range(instances)
    ]
    try:
        for child in children:
            assert child.stdout is not None
            await child.stdout.readline()  # "ready"
        settings = load_settings(env)
        rt = await open_runtime(settings, pool_max=40)
        org = str(uuid.uuid4())
        boss = Identity(user_id="boss", org_id=org, org_role="ADMIN")
        ctx = CallContext(identity=boss)
        project = await rt.rpc.call(
            "labeling",
            "create_project",
            api.CreateProjectRequest(name="bench", ontology=api.OntologyInput(questions=QUESTIONS)),
            ctx=ctx,
            response_type=api.ProjectView,
        )
        users = [Identity(user_id=f"ann-{i}", org_id=org) for i in range(annotators)]
        for u in users:
            await rt.rpc.call(
                "labeling",
                "add_project_member",
                api.AddProjectMemberRequest(project_id=project.id, user_id=u.user_id, role="ANNOTATOR"),
                ctx=ctx,
            )
        dataset = str(uuid.uuid4())
        # Enough tasks that no annotator runs out before the end: an annotator with nothing left
        # to claim stops, and the actions/s of the window would count time nobody was working.
        rows = max(annotators * 120, int((WARMUP + seconds) * ROW_SUPPLY_PER_SECOND))
        ingest = Metadata(actor_id="ingest", actor_role="SYSTEM")
        await rt.store.append(
            StreamWrite(stream_name("dataset", dataset), [DatasetCreated(dataset_id=dataset, name="b")]),
            org_id=org,
            metadata=ingest,
        )
        for start in range(0, rows, 500):
            await rt.store.append(
                [
                    StreamWrite(
                        stream_name("datarow", rid),
                        [
                            DataRowImported(
                                data_row_id=rid, dataset_id=dataset, global_key=rid, row=row(i), source_format="native"
                            )
                        ],
                    )
                    for i, rid in ((i, str(uuid.uuid4())) for i in range(start, min(rows, start + 500)))
                ],
                org_id=org,
                metadata=ingest,
            )
        # The consumer fills the table from JetStream; there is nothing to wait on but the table.
        while await rt.pool.fetchval("select count(*) from labeling.data_rows") < rows:  # noqa: ASYNC110
            await asyncio.sleep(0.1)
        await rt.rpc.call(
            "labeling",
            "add_data_rows_to_project",
            api.AddDataRowsRequest(project_id=project.id, dataset_id=dataset),
            ctx=ctx,
            timeout=120,
        )
        # The relay and the projections work off the new tasks' events after the call
        # returns: not during the measured window.
        setup_settled = max([await settle(child.pid, at_least=1.0) for child in children])

        samples: list[tuple[str, int, float]] = []
        lags: list[float] = []
        stop = asyncio.Event()
        watcher = asyncio.create_task(watch_lag(rt.pool, samples, lags, stop))
        warmup = WARMUP
        t0 = time.perf_counter()
        sims = [Annotator(rt, u, project.id, affinity) for u in users]
        services = {child.pid for child in children}
        cpu = asyncio.create_task(
            cpu_in_window(
                t0 + warmup,
                t0 + warmup + seconds,
                lambda pid, cmd: "service" if pid in services else common_role(pid, cmd),
            )
        )
        await asyncio.gather(*(s.run(t0 + warmup + seconds, t0 + warmup, samples) for s in sims))
        cpu_used = await cpu
        stop.set()
        await asyncio.wait_for(watcher, 30)
        latencies = [x for s in sims for x in s.latencies]
        conflicts = sum(s.conflicts for s in sims)

        raw_rate, raw_lat = await raw_appends(rt.store, org, min(10.0, seconds / 2), annotators)
        ctx_info = {
            "annotators": annotators,
            "seconds": seconds,
            "actions": len(latencies),
            "conflicts": conflicts,
            # Annotators that found the queue empty before the end (their idle time is in the window).
            "ran_out_of_tasks": sum(s.ran_out for s in sims),
            "cores": os.cpu_count(),
            "mix": "rank 30% / crown 25% / answer 45%",
            "after_setup_settled_s": round(setup_settled, 1),
            "instances": instances,
            "affinity": affinity,
            "affinity_fallbacks": rt.rpc.fallbacks,
        }
        emit(
            "labeling_actions_throughput",
            len(latencies) / seconds,
            "actions/s",
            3000,
            True,
            raw_append_per_s=round(raw_rate, 1),
            **ctx_info,
        )
        emit(
            "labeling_actions_latency_p99",
            pct(latencies, 0.99) * 1000,
            "ms",
            50,
            False,
            p50_ms=round(pct(latencies, 0.50) * 1000, 2),
            **ctx_info,
        )
        emit(
            "labeling_read_model_lag_p99",
            pct(lags, 0.99) * 1000,
            "ms",
            200,
            False,
            p50_ms=round(pct(lags, 0.50) * 1000, 2),
            sampled=len(lags),
        )
        # Where the machine's CPU went per action, and so how many of these cores 3,000/s takes.
        per_action, budget, figures = cpu_per_operation(cpu_used, len(latencies), seconds, 3000)
        emit(
            "labeling_actions_cpu_per_action",
            per_action,
            "ms",
            budget,
            False,
            **figures,
            note="CPU of the service, Postgres, NATS and the load generator over the measured window,"
            " per action; the limit is what this machine's cores allow per action at 3,000/s",
        )
        emit(
            "eventstore_raw_append_same_run",
            raw_rate,
            "appends/s",
            3000,
            True,
            p50_ms=round(pct(raw_lat, 0.5) * 1000, 2),
            p99_ms=round(pct(raw_lat, 0.99) * 1000, 2),
            writers=annotators,
            note="one event per append, no service in the path; reference figure",
        )
    finally:
        # The service first: deleting its streams under it makes its consumers fail loudly.
        for child in children:
            child.send_signal(signal.SIGTERM)
        for child in children:
            try:
                await asyncio.wait_for(child.wait(), 20)
            except TimeoutError:
                child.kill()
        if rt is not None:
            await delete_namespace_streams(rt.js, namespace)
            await rt.close()
        await drop_database(infra.admin_dsn, db)
        infra.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--serve", action="store_true")
    parser.add_argument("--instances", type=int, default=1, help="labeling service processes")
    parser.add_argument("--no-affinity", action="store_true", help="calls to the queue group only")
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--annotators", type=int, default=32)
    args = parser.parse_args()
    # As ``preflog serve`` runs a service: on uvloop (and the load generator too).
    run(serve() if args.serve else main(args.seconds, args.annotators, args.instances, not args.no_affinity))
