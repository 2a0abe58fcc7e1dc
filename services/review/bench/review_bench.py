"""Review service benchmark, against the service running as its own process.

1. Review actions: 32 concurrent reviewers over NATS RPC, a mix of approve, reject, mark for
   review and open issue on freshly submitted labels; actions/s (limit >= 2,000/s) and p99.
2. Leaderboard of a project with 1,000,000 pairwise comparisons among 20 models:
   - aggregation: labels (full rankings of 20 responses, 190 comparisons each) appended as
     labeling's LabelSubmitted events, relayed through JetStream and folded by the service's
     intake into its pair-count table, timed until the table holds all 1,000,000;
   - compute: the ``leaderboard`` RPC (Bradley-Terry fit + 200 bootstrap refits) on it
     (limit <= 2 s), and the recovered order checked against the true strengths.

The service is started with ``preflog serve review`` (which also runs the relay) on a fresh
database and NATS namespace. Prints one JSON object per line (``ratio`` >= 1 meets the limit).
Run: uv run python services/review/bench/review_bench.py
"""

from __future__ import annotations

import asyncio
import json
import os
import statistics
import sys
import time
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import asyncpg
import numpy as np

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.envelope import Metadata
from preflog_contracts.events.base import Event
from preflog_contracts.events.catalog import DataRowImported
from preflog_contracts.events.labels import (
    Crown,
    LabelSnapshot,
    LabelSubmitted,
    RankEntry,
    Ranking,
    TaskCreated,
)
from preflog_contracts.events.projects import MemberAdded, ProjectCreated
from preflog_contracts.identity import Identity
from preflog_contracts.rpc import review as api
from preflog_eventstore import (
    ANY,
    EventStore,
    StreamWrite,
    create_database,
    create_pool,
    drop_database,
    migrate,
    with_database,
)
from preflog_messaging import connect, delete_namespace_streams
from preflog_messaging.rpc import CallContext, RpcClient
from preflog_testing.infra import choose_infra

REVIEWERS = 32
ACTION_LABELS = int(os.environ.get("REVIEW_BENCH_LABELS", "12000"))
ACTION_SECONDS = float(os.environ.get("REVIEW_BENCH_SECONDS", "10"))
MODELS = 20
COMPARISONS = 1_000_000
PER_LABEL = MODELS * (MODELS - 1) // 2
SECRET = "review-bench-secret"
META = Metadata(actor_id="labeling", actor_role="SYSTEM")


def emit(
    bench: str, value: float, unit: str, limit: float | None, higher_is_better: bool, **extra: Any
) -> None:
    line: dict[str, Any] = {"bench": bench, "value": round(value, 4), "unit": unit, "limit": limit}
    if limit is not None:
        line["ratio"] = round(value / limit if higher_is_better else limit / value, 3)
    else:
        line["ratio"] = None  # informational: the issue sets no limit for this figure
    line.update(extra)
    print(json.dumps(line), flush=True)


def data_row(models: list[str]) -> DataRow:
    return DataRow(
        messages=[Message(id="m1", role="user", content=[Part(kind="text", value="q")])],
        prompts=[
            PromptPoint(
                id="p1",
                after_message_id="m1",
                responses=[
                    Response(
                        id=f"r{i}",
                        title=m,
                        content=[Part(kind="text", value=m)],
                        model_config_name=m,
                    )
                    for i, m in enumerate(models)
                ],
            )
        ],
    )


async def append_batches(
    store: EventStore, org: str, writes: list[tuple[str, Event]], size: int = 500
) -> None:
    """Append (stream, event) pairs in order, ``size`` per transaction."""
    for start in range(0, len(writes), size):
        grouped: dict[str, list[Event]] = {}
        for stream, event in writes[start : start + size]:
            grouped.setdefault(stream, []).append(event)
        await store.append(
            [StreamWrite(s, evs, ANY) for s, evs in grouped.items()], org_id=org, metadata=META
        )


async def wait_for(
    pool: asyncpg.Pool, sql: str, args: tuple[Any, ...], target: int, timeout: float
) -> float:
    """Poll ``sql`` (a count) until it reaches ``target``; returns the seconds waited."""
    started = time.perf_counter()
    while time.perf_counter() - started < timeout:
        if (await pool.fetchval(sql, *args) or 0) >= target:
            return time.perf_counter() - started
        await asyncio.sleep(0.1)
    raise TimeoutError(f"{sql} did not reach {target} in {timeout}s")


async def project(store: EventStore, org: str, project_id: str, members: dict[str, str]) -> None:
    events: list[tuple[str, Event]] = [
        (f"project-{project_id}", ProjectCreated(project_id=project_id, name="bench")),
    ]
    events += [
        (f"project-{project_id}", MemberAdded(project_id=project_id, user_id=u, role=r))
        for u, r in members.items()
    ]
    await append_batches(store, org, events)


async def actions_phase(store: EventStore, rpc: RpcClient, pool: asyncpg.Pool) -> None:
    org = str(uuid.uuid4())
    project_id = f"bench-{uuid.uuid4().hex[:8]}"
    reviewers = [Identity(user_id=f"reviewer-{i}", org_id=org) for i in range(REVIEWERS)]
    await project(store, org, project_id, {r.user_id: "REVIEWER" for r in reviewers})
    models = ["m-a", "m-b", "m-c"]
    row = data_row(models)
    events: list[tuple[str, Event]] = []
    tasks: list[tuple[str, str]] = []
    for i in range(ACTION_LABELS):
        row_id, task_id, label_id = f"r{i}-{project_id}", f"t{i}-{project_id}", f"l{i}-{project_id}"
        events.append(
            (
                f"datarow-{row_id}",
                DataRowImported(
                    data_row_id=row_id,
                    dataset_id="d",
                    global_key=row_id,
                    row=row,
                    source_format="native",
                ),
            )
        )
        events.append(
            (
                f"task-{task_id}",
                TaskCreated(
                    task_id=task_id, project_id=project_id, data_row_id=row_id, batch_id="b"
                ),
            )
        )
        events.append(
            (
                f"label-{label_id}",
                LabelSubmitted(
                    label_id=label_id,
                    task_id=task_id,
                    project_id=project_id,
                    data_row_id=row_id,
                    author_id="annotator",
                    leased_at=datetime.now(UTC),
                    snapshot=LabelSnapshot(crowns=[Crown(prompt_id="p1", response_id=f"r{i % 3}")]),
                ),
            )
        )
        tasks.append((task_id, label_id))
    started = time.perf_counter()
    await append_batches(store, org, events)
    seeded = await wait_for(
        pool,
        "select count(*) from review.tasks where project_id = $1 and status = 'IN_REVIEW'",
        (project_id,),
        ACTION_LABELS,
        600,
    )
    emit(
        "review.intake_submitted_labels",
        ACTION_LABELS / (time.perf_counter() - started),
        "labels/s",
        None,
        True,
        labels=ACTION_LABELS,
        note="append + relay + JetStream intake + status event",
    )
    del seeded

    queue = list(reversed(tasks))
    latencies: list[float] = []
    counts = {"approve": 0, "reject": 0, "mark": 0, "issue": 0}
    kinds = ("approve", "reject", "mark", "issue")
    deadline = time.perf_counter() + ACTION_SECONDS
    errors: list[str] = []

    async def reviewer(who: Identity, n: int) -> None:
        step = n
        ctx = CallContext(identity=who, correlation_id=f"bench-{n}")
        while time.perf_counter() < deadline and queue:
            task_id, label_id = queue.pop()
            kind = kinds[step % 4]
            step += 1
            began = time.perf_counter()
            try:
                if kind == "approve":
                    await rpc.call(
                        "review",
                        "approve_label",
                        api.ApproveLabel(label_id=label_id),
                        ctx=ctx,
                        response_type=api.LabelReviewView,
                    )
                elif kind == "reject":
                    await rpc.call(
                        "review",
                        "reject_label",
                        api.RejectLabel(label_id=label_id, reason="bench"),
                        ctx=ctx,
                        response_type=api.LabelReviewView,
                    )
                elif kind == "mark":
                    await rpc.call(
                        "review",
                        "mark_for_review",
                        api.MarkForReview(label_id=label_id, note="look"),
                        ctx=ctx,
                        response_type=api.LabelReviewView,
                    )
                else:
                    await rpc.call(
                        "review",
                        "open_issue",
                        api.OpenIssue(task_id=task_id, body="bench", label_id=label_id),
                        ctx=ctx,
                        response_type=api.IssueView,
                    )
            except Exception as exc:
                errors.append(repr(exc))
                continue
            latencies.append(time.perf_counter() - began)
            counts[kind] += 1

    started = time.perf_counter()
    await asyncio.gather(*(reviewer(r, i) for i, r in enumerate(reviewers)))
    elapsed = time.perf_counter() - started
    done = sum(counts.values())
    p99 = float(np.quantile(latencies, 0.99)) * 1000 if latencies else float("nan")
    emit(
        "review.actions_32_reviewers",
        done / elapsed,
        "actions/s",
        2000,
        True,
        actions=done,
        seconds=round(elapsed, 2),
        p50_ms=round(statistics.median(latencies) * 1000, 2),
        p99_ms=round(p99, 2),
        mix=counts,
        errors=len(errors),
        first_error=errors[0] if errors else None,
        ran_out_of_labels=not queue,
    )
    emit("review.actions_p99_latency", p99, "ms", None, False, reviewers=REVIEWERS)


async def leaderboard_phase(store: EventStore, rpc: RpcClient, pool: asyncpg.Pool) -> None:
    org = str(uuid.uuid4())
    project_id = f"board-{uuid.uuid4().hex[:8]}"
    viewer = Identity(user_id="viewer", org_id=org)
    await project(store, org, project_id, {"viewer": "REVIEWER"})
    names = [f"model-{i:02d}" for i in range(MODELS)]
    theta = np.linspace(-1.5, 1.5, MODELS)
    rng = np.random.default_rng(7)
    labels = -(-COMPARISONS // PER_LABEL)  # ceil: 5,264 labels of 190 comparisons
    rows_needed = 50  # rows shared by many tasks: one DataRowImported per row
    rows = []
    events: list[tuple[str, Event]] = []
    for r in range(rows_needed):
        order = rng.permutation(MODELS)  # response order differs per row
        row_id = f"row{r}-{project_id}"
        rows.append((row_id, order))
        events.append(
            (
                f"datarow-{row_id}",
                DataRowImported(
                    data_row_id=row_id,
                    dataset_id="d",
                    global_key=row_id,
                    row=data_row([names[i] for i in order]),
                    source_format="native",
                ),
            )
        )
    for n in range(labels):
        row_id, order = rows[n % rows_needed]
        # Plackett-Luce draw from the true strengths: sort by strength + Gumbel noise.
        utility = theta[order] + rng.gumbel(size=MODELS)
        ranks = np.empty(MODELS, dtype=int)
        ranks[np.argsort(-utility)] = np.arange(1, MODELS + 1)
        task_id, label_id = f"t{n}-{project_id}", f"l{n}-{project_id}"
        events.append(
            (
                f"task-{task_id}",
                TaskCreated(
                    task_id=task_id, project_id=project_id, data_row_id=row_id, batch_id="b"
                ),
            )
        )
        events.append(
            (
                f"label-{label_id}",
                LabelSubmitted(
                    label_id=label_id,
                    task_id=task_id,
                    project_id=project_id,
                    data_row_id=row_id,
                    author_id=f"annotator-{n % 40}",
                    snapshot=LabelSnapshot(
                        rankings=[
                            Ranking(
                                prompt_id="p1",
                                ranking=[RankEntry(f"r{i}", int(ranks[i])) for i in range(MODELS)],
                            )
                        ]
                    ),
                ),
            )
        )
    started = time.perf_counter()
    await append_batches(store, org, events)
    await wait_for(
        pool,
        "select sum(wins_a + wins_b + ties) from review.pair_counts where project_id = $1",
        (project_id,),
        labels * PER_LABEL,
        900,
    )
    aggregation = time.perf_counter() - started
    emit(
        "review.leaderboard_aggregation_through_intake",
        aggregation,
        "s",
        None,
        False,
        comparisons=labels * PER_LABEL,
        labels=labels,
        comparisons_per_s=round(labels * PER_LABEL / aggregation),
        note="LabelSubmitted appended -> relay -> JetStream -> intake -> pair_counts upserts",
    )
    ctx = CallContext(identity=viewer, correlation_id="bench-board")
    times = []
    board = None
    for _ in range(3):
        began = time.perf_counter()
        board = await rpc.call(
            "review",
            "leaderboard",
            api.LeaderboardRequest(project_id=project_id, bootstrap_rounds=200),
            ctx=ctx,
            response_type=api.LeaderboardView,
            timeout=60,
        )
        times.append(time.perf_counter() - began)
    assert board is not None
    fitted = [m.model_config_name for m in board.models]
    inversions = sum(
        1
        for i in range(MODELS)
        for j in range(i + 1, MODELS)
        if fitted.index(names[i]) < fitted.index(names[j])  # weaker ranked above stronger
    )
    emit(
        "review.leaderboard_rpc_1m_comparisons_20_models",
        statistics.median(times),
        "s",
        2.0,
        False,
        comparisons=board.comparisons,
        bootstrap_rounds=board.bootstrap_rounds,
        rank_inversions_vs_truth=inversions,
    )


async def run(dsn: str, nats_url: str) -> None:
    await migrate(dsn)
    namespace = f"rb{uuid.uuid4().hex[:6]}"
    env = os.environ | {
        "PREFLOG_DATABASE_URL": dsn,
        "PREFLOG_NATS_URL": nats_url,
        "PREFLOG_NAMESPACE": namespace,
        "PREFLOG_INTERNAL_SECRET": SECRET,
        "PREFLOG_DB_POOL_MAX": "40",
        "PREFLOG_SERVICE_HTTP_PORT": "0",
        "PREFLOG_LOG_FORMAT": "json",
        "PREFLOG_LOG_LEVEL": "warning",
        "PREFLOG_LOAD_DEMO": "false",
    }
    binary = Path(sys.executable).parent / "preflog"
    service = await asyncio.create_subprocess_exec(
        str(binary),
        "serve",
        "review",
        env=env,
        stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.DEVNULL,
    )
    pool = await create_pool(dsn, min_size=2, max_size=10)
    store = EventStore(pool)
    nc = await connect(nats_url)
    rpc = RpcClient(nc, namespace=namespace, secret=SECRET, timeout=30)
    try:
        ping_ctx = CallContext(correlation_id="ping")
        for _ in range(200):
            try:
                await rpc.call("review", "ping", {}, ctx=ping_ctx, timeout=0.5)
                break
            except Exception:
                await asyncio.sleep(0.2)
        await actions_phase(store, rpc, pool)
        await leaderboard_phase(store, rpc, pool)
    finally:
        service.terminate()
        try:
            await asyncio.wait_for(service.wait(), 20)
        except TimeoutError:
            service.kill()
            await service.wait()
        await delete_namespace_streams(nc.jetstream(), namespace)
        await nc.close()
        await pool.close()


async def main() -> None:
    infra = choose_infra()
    name = f"preflog_review_bench_{uuid.uuid4().hex[:8]}"
    await create_database(infra.admin_dsn, name)
    try:
        await run(with_database(infra.admin_dsn, name), infra.nats_url)
    finally:
        await drop_database(infra.admin_dsn, name)
        infra.close()


if __name__ == "__main__":
    asyncio.run(main())
