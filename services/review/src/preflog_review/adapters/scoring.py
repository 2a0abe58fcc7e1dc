"""Incremental scores: consensus per task, benchmark per row, pair counts per project.

Each function recomputes one unit (a task, a row, a label's outcomes) from the read model's
current facts, so the final numbers depend only on the final facts, not on the order the
intake and the projection applied them. Advisory transaction locks serialise recomputation
of one unit: the later transaction waits, then reads what the earlier committed.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from typing import Any

import asyncpg
import msgspec
import structlog

from preflog_contracts.datarow import DataRow
from preflog_contracts.events.labels import LabelSnapshot
from preflog_contracts.events.projects import Question
from preflog_eventstore import every, sleep_or_stop
from preflog_eventstore.conn import Conn
from preflog_review.adapters.tables import LIVE, Tables
from preflog_review.domain.agreement import TaskAgreement, share_of_sums, task_agreement
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
    # The project's questions ride on the first row (one round trip, not two).
    rows = await conn.fetch(
        f"select label_id, status, is_reference, snapshot::text as snapshot,"
        f" case when row_number() over (order by label_id) = 1 then"
        f" (select p.questions::text from {t.projects} p where p.project_id = l.project_id)"
        f" end as questions from {t.labels} l where task_id = $1 order by label_id",
        task_id,
    )
    if not rows:
        return
    counting = {
        r["label_id"]: _snapshot.decode(r["snapshot"])
        for r in rows
        if r["status"] in COUNTING and not r["is_reference"] and r["snapshot"] is not None
    }
    questions = _questions.decode(rows[0]["questions"]) if rows[0]["questions"] else []
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


async def agreement_sums(conn: Conn, t: Tables, project_id: str) -> TaskAgreement:
    """The sum of the project's task shares: its folded sums and the changes not folded yet,
    read in one statement, so a fold is seen entirely or not at all (migration 0004)."""
    async with conn.transaction():
        rows = await _without_jit(conn, _SUMS_SQL.format(t=t), project_id)
    return share_of_sums(tuple(r) for r in rows)


async def _without_jit(conn: Conn, sql: str, *args: object) -> list[asyncpg.Record]:
    """``sql`` in the caller's transaction with JIT compilation off. The planner cannot see
    how many rows a share expands into (``agreement_rows``: it takes each jsonb_each for 100)
    and estimates millions for a few hundred changes; Postgres then spent 330 ms compiling a
    statement that runs in 27 (measured, ADR 0028)."""
    await conn.execute("set local jit = off")
    return await conn.fetch(sql, *args)


# A project's folded sums and its changes not folded yet, each change's share before it taken
# away and its share after added.
_SUMS_SQL = (
    "select question_id, value, sum(n)::bigint, sum(total)::float8 from ("
    " select question_id, value, n, total from {t.agreement_sums} where project_id = $1"
    " union all"
    " select r.question_id, r.value, r.n, r.total"
    " from {t.agreement_deltas} d, review.agreement_rows(d.after) r where d.project_id = $1"
    " union all"
    " select r.question_id, r.value, -r.n, -r.total"
    " from {t.agreement_deltas} d, review.agreement_rows(d.before) r where d.project_id = $1"
    ") s group by question_id, value"
)


async def keep_agreement_sums(conn: Conn, t: Tables) -> None:
    """Have ``t.tasks`` note each change of a share in ``t.agreement_deltas``, as migration
    0004 has the live tasks do: for a rebuild's shadow tables, which copy no triggers."""
    for name, event, condition in (
        ("insert", "insert", "new.agreement is not null"),
        ("update", "update of agreement", "old.agreement is distinct from new.agreement"),
        ("delete", "delete", "old.agreement is not null"),
    ):
        await conn.execute(
            f"create trigger tasks_agreement_on_{name} after {event} on {t.tasks}"
            f" for each row when ({condition})"
            f" execute function review.note_agreement_change('{t.agreement_deltas}')"
        )


# Moves the oldest deltas into the per-project sums. Instances folding at once each delete
# different rows (a row another has deleted is skipped), so nothing counts twice.
_FOLD_AGREEMENT_SQL = """
with moved as (
  delete from review.agreement_deltas
   where id in (select id from review.agreement_deltas order by id limit $1)
  returning project_id, before, after),
changes as (
  select m.project_id, r.question_id, r.value, r.n, r.total
    from moved m, review.agreement_rows(m.after) r
  union all
  select m.project_id, r.question_id, r.value, -r.n, -r.total
    from moved m, review.agreement_rows(m.before) r),
folded as (
  insert into review.agreement_sums (project_id, question_id, value, n, total)
    select project_id, question_id, value, sum(n), sum(total) from changes
     group by project_id, question_id, value
    on conflict (project_id, question_id, value) do update
      set n = review.agreement_sums.n + excluded.n,
          total = review.agreement_sums.total + excluded.total)
select count(*) from moved
"""
FOLD_BATCH = 2_000  # changes; each is two shares of up to a few dozen rows


async def fold_agreement_once(conn: Conn) -> None:
    """Fold every pending change of a share, a batch per transaction."""
    while True:
        async with conn.transaction():
            moved = (await _without_jit(conn, _FOLD_AGREEMENT_SQL, FOLD_BATCH))[0][0]
        if moved < FOLD_BATCH:
            return


def agreement_fold_loop(
    pool: asyncpg.Pool, interval: float = 1.0
) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A ServiceParts loop: fold the changes of shares every ``interval`` seconds until
    stopped (each change not folded costs the report about 0.1 ms)."""

    async def step() -> None:
        async with pool.acquire() as conn:
            await fold_agreement_once(conn)

    return every(interval, step)


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
        # Their notes for the report (migration 0005) are done with.
        await conn.execute(
            f"delete from {t.unscored_tasks} where task_id = any($1::text[])",
            [row[0] for row in unscored],
        )
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
    await apply_pair_deltas(conn, t, row["project_id"], before, after, label_id)


async def apply_pair_deltas(
    conn: Conn,
    t: Tables,
    project_id: str,
    before: list[PairOutcome],
    after: list[PairOutcome],
    label_id: str,
) -> None:
    """The label's outcomes become ``after`` and its project's pair counts move from its
    ``before`` to them, in one statement."""
    deltas = pair_deltas(before, after)
    await conn.execute(
        f"with outcomes as (update {t.labels} set outcomes = $7::jsonb where label_id = $8)"
        f" insert into {t.pair_counts} as c (project_id, model_a, model_b, wins_a, wins_b, ties)"
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
        encode(after),
        label_id,
    )
    if any(min(d.wins_a, d.wins_b, d.ties) < 0 for d in deltas):
        # Counts that fell to zero disappear, as in OutcomeCounts.
        await conn.execute(
            f"delete from {t.pair_counts} where project_id = $1"
            " and wins_a = 0 and wins_b = 0 and ties = 0",
            project_id,
        )
