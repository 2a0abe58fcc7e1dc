"""Incremental scores: consensus per task, benchmark per row, pair counts per project.

Each function recomputes one unit (a task, a row, a label's outcomes) from the read model's
current facts, so the final numbers depend only on the final facts, not on the order the
intake and the projection applied them. Advisory transaction locks serialise recomputation
of one unit: the later transaction waits, then reads what the earlier committed.
"""

from __future__ import annotations

import asyncio
from typing import Any

import asyncpg
import msgspec
import structlog

from preflog_contracts.datarow import DataRow
from preflog_contracts.events.labels import LabelSnapshot
from preflog_contracts.events.projects import Question
from preflog_eventstore import sleep_or_stop
from preflog_eventstore.conn import Conn
from preflog_review.adapters.tables import LIVE, Tables
from preflog_review.domain.agreement import task_agreement
from preflog_review.domain.consensus import task_consensus
from preflog_review.domain.label_agreement import benchmark_score
from preflog_review.domain.pair_deltas import pair_deltas
from preflog_review.domain.pair_outcomes import PairOutcome, outcomes_from_label
from preflog_review.domain.rank_direction import rank_direction_for

log = structlog.get_logger(__name__)

COUNTING = ("SUBMITTED", "APPROVED")

_snapshot = msgspec.json.Decoder(LabelSnapshot)
_questions = msgspec.json.Decoder(list[Question])
_row = msgspec.json.Decoder(DataRow)
_outcomes = msgspec.json.Decoder(list[PairOutcome])
_json = msgspec.json.Encoder()


def encode(value: Any) -> str:
    return _json.encode(value).decode()


async def _lock(conn: Conn, key: str) -> None:
    await conn.execute("select pg_advisory_xact_lock(hashtextextended($1, 0))", key)


async def project_questions(conn: Conn, t: Tables, project_id: str) -> list[Question]:
    raw = await conn.fetchval(
        f"select questions::text from {t.projects} where project_id = $1", project_id
    )
    return _questions.decode(raw) if raw else []


async def rescore_task(conn: Conn, t: Tables, task_id: str) -> None:
    """Consensus among the task's counting labels (submitted/approved, not the reference)."""
    await _lock(conn, f"review:task:{task_id}")
    rows = await conn.fetch(
        f"select label_id, project_id, status, is_reference, snapshot::text as snapshot"
        f" from {t.labels} where task_id = $1 order by label_id",
        task_id,
    )
    if not rows:
        return
    counting = {
        r["label_id"]: _snapshot.decode(r["snapshot"])
        for r in rows
        if r["status"] in COUNTING and not r["is_reference"] and r["snapshot"] is not None
    }
    questions = await project_questions(conn, t, rows[0]["project_id"])
    result = task_consensus(counting, questions)
    await conn.execute(
        f"update {t.tasks} set consensus = $2::jsonb, consensus_score = $3, agreement = $4::jsonb"
        " where task_id = $1",
        task_id,
        encode(result) if counting else None,
        result.score if counting else None,
        encode(task_agreement(result, counting.values(), questions)) if counting else None,
    )
    per_label = {c.label_id: c for c in result.labels}
    ids = [r["label_id"] for r in rows]
    await conn.execute(
        f"update {t.labels} as l set consensus = u.c::jsonb, consensus_score = u.s"
        " from unnest($1::text[], $2::text[], $3::float8[]) as u(id, c, s)"
        " where l.label_id = u.id",
        ids,
        [encode(per_label[i]) if i in per_label else None for i in ids],
        [per_label[i].score if i in per_label else None for i in ids],
    )


async def score_unscored(
    pool: asyncpg.Pool, t: Tables = LIVE, batch: int = 200, after: str = ""
) -> tuple[int, str | None]:
    """Score again up to ``batch`` tasks after task id ``after`` that have a consensus but
    no share of the agreement (scored before shares were kept, review migration 0002).
    Returns how many, and the task id to go on after (None: none left after ``after``).
    In task id order, so a pass reads the table once, however many are left."""
    async with pool.acquire() as conn:
        unscored = await conn.fetch(
            f"select task_id from {t.tasks} where task_id > $1"
            " and consensus is not null and agreement is null order by task_id limit $2",
            after,
            batch,
        )
        for row in unscored:
            async with conn.transaction():
                await rescore_task(conn, t, row[0])
    return len(unscored), (unscored[-1][0] if unscored else None)


def agreement_backfill_loop(pool: asyncpg.Pool, pause: float = 0.5):  # type: ignore[no-untyped-def]
    """A ServiceParts loop: one pass giving every task scored before shares were kept its
    share, a batch at a time, then end (``rescore_task`` writes a share with every consensus,
    so none is left without one after the pass; the report works out any it meets). A
    finished pass is recorded (``review.backfills``), so later starts make none."""

    async def run(stop: asyncio.Event) -> None:
        if await pool.fetchval("select 1 from review.backfills where name = $1", _AGREEMENT):
            return
        after: str | None = ""
        while not stop.is_set() and after is not None:
            scored, after = await score_unscored(pool, after=after)
            if scored:
                log.info("agreement.backfilled", tasks=scored)
                await sleep_or_stop(stop, pause)
        if after is None:
            await pool.execute(
                "insert into review.backfills (name) values ($1) on conflict do nothing", _AGREEMENT
            )

    return run


_AGREEMENT = "agreement_shares"


async def rescore_benchmark(
    conn: Conn, t: Tables, project_id: str, data_row_id: str, changed_label: str | None = None
) -> None:
    """Benchmark scores on the row against the row's reference label.

    With ``changed_label`` (a label whose content just changed) only that label is rescored,
    unless it is the reference itself; without a reference nothing is scored (references
    are never removed, so no label on such a row holds a score).
    """
    await _lock(conn, f"review:row:{project_id}:{data_row_id}")
    ref = await conn.fetchrow(
        f"select r.label_id, l.snapshot::text as snapshot from {t.reference_labels} r"
        f" join {t.labels} l on l.label_id = r.label_id"
        " where r.project_id = $1 and r.data_row_id = $2",
        project_id,
        data_row_id,
    )
    if changed_label is not None and (ref is None or ref["label_id"] != changed_label):
        if ref is None:
            return
        rows = await conn.fetch(
            f"select label_id, snapshot::text as snapshot from {t.labels}"
            " where label_id = $1 and snapshot is not null",
            changed_label,
        )
    else:
        rows = await conn.fetch(
            f"select label_id, snapshot::text as snapshot from {t.labels}"
            " where project_id = $1 and data_row_id = $2 and snapshot is not null"
            " order by label_id",
            project_id,
            data_row_id,
        )
    if not rows:
        return
    reference = _snapshot.decode(ref["snapshot"]) if ref and ref["snapshot"] else None
    questions = await project_questions(conn, t, project_id) if reference else []
    reference_id = ref["label_id"] if ref else None
    ids: list[str] = []
    comparisons: list[str | None] = []
    scores: list[float | None] = []
    for r in rows:
        ids.append(r["label_id"])
        if reference is None or r["label_id"] == reference_id:
            comparisons.append(None)
            scores.append(None)
            continue
        comparison = benchmark_score(_snapshot.decode(r["snapshot"]), reference, questions)
        comparisons.append(encode(comparison))
        scores.append(comparison.score)
    await conn.execute(
        f"update {t.labels} as l set benchmark = u.c::jsonb, benchmark_score = u.s"
        " from unnest($1::text[], $2::text[], $3::float8[]) as u(id, c, s)"
        " where l.label_id = u.id",
        ids,
        comparisons,
        scores,
    )


async def recount_outcomes(conn: Conn, t: Tables, label_id: str) -> None:
    """Make the label's contribution to its project's pair counts match its current state.

    A counting label contributes ``outcomes_from_label``; any other contributes nothing.
    """
    row = await conn.fetchrow(
        "select l.project_id, l.status, l.snapshot::text as snapshot,"
        " l.outcomes::text as outcomes,"
        f" d.row::text as row, p.rank_mode from {t.labels} l"
        f" left join {t.data_rows} d on d.data_row_id = l.data_row_id"
        f" left join {t.projects} p on p.project_id = l.project_id"
        " where l.label_id = $1 for update of l",
        label_id,
    )
    if row is None:
        return
    before = _outcomes.decode(row["outcomes"])
    after: list[PairOutcome] = []
    if row["status"] in COUNTING and row["snapshot"] and row["row"] and row["rank_mode"]:
        after = outcomes_from_label(
            _snapshot.decode(row["snapshot"]),
            _row.decode(row["row"]),
            rank_direction_for(row["rank_mode"]),
        )
    if before == after:
        return
    await conn.execute(
        f"update {t.labels} set outcomes = $2::jsonb where label_id = $1", label_id, encode(after)
    )
    await apply_pair_deltas(conn, t, row["project_id"], before, after)


async def apply_pair_deltas(
    conn: Conn,
    t: Tables,
    project_id: str,
    before: list[PairOutcome],
    after: list[PairOutcome],
) -> None:
    deltas = pair_deltas(before, after)
    if not deltas:
        return
    await conn.execute(
        f"insert into {t.pair_counts} as c (project_id, model_a, model_b, wins_a, wins_b, ties)"
        " select $1, a, b, wa, wb, ti"
        " from unnest($2::text[], $3::text[], $4::int8[], $5::int8[], $6::int8[])"
        " as u(a, b, wa, wb, ti)"
        " on conflict (project_id, model_a, model_b) do update set"
        " wins_a = c.wins_a + excluded.wins_a, wins_b = c.wins_b + excluded.wins_b,"
        " ties = c.ties + excluded.ties",
        project_id,
        [d.model_a for d in deltas],
        [d.model_b for d in deltas],
        [d.wins_a for d in deltas],
        [d.wins_b for d in deltas],
        [d.ties for d in deltas],
    )
    if any(min(d.wins_a, d.wins_b, d.ties) < 0 for d in deltas):
        # Counts that fell to zero disappear, as in OutcomeCounts.
        await conn.execute(
            f"delete from {t.pair_counts} where project_id = $1"
            " and wins_a = 0 and wins_b = 0 and ties = 0",
            project_id,
        )
