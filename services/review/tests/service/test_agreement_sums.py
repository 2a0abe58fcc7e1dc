"""A project's agreement sums (review migration 0004, ADR 0028) equal the exact sum of the
shares its tasks hold now, whatever wrote, changed, removed or folded them and in what order.

The sums are numeric, so the oracle is exact: each float as the JSON decimal the share holds,
added as ``Decimal``s and rounded once, as Postgres's numeric sum cast to float8 is."""

from __future__ import annotations

import asyncio
import random
import uuid
from decimal import Decimal

import asyncpg
import msgspec

from preflog_eventstore import create_database, drop_database
from preflog_eventstore.migrate import all_migrations, apply_migrations
from preflog_review.adapters.scoring import agreement_sums, fold_agreement_once
from preflog_review.adapters.tables import LIVE
from preflog_review.domain.agreement import TaskAgreement
from preflog_review.domain.consensus import PairSums
from preflog_review.domain.question_alpha import QuestionPart

_encode = msgspec.json.Encoder()
COMPONENTS = (
    ("score", "scored"),
    ("crown_agreement", "crowned"),
    ("kendall_tau", "ranked"),
    ("answer_agreement", "answered"),
)
QUESTION_IDS = ("q-a", "q-b", "q-c", "")
VALUES = ('"A"', '"B"', "1", "2.5", '["x","y"]')


def random_share(rnd: random.Random) -> TaskAgreement:
    def real() -> float:
        return rnd.choice([rnd.random(), rnd.random() * 1e-9, 0.1 + 0.2, -rnd.random(), 0.0])

    pairs = rnd.randrange(0, 7)
    return TaskAgreement(
        pairs=PairSums(
            pairs=pairs,
            score=real(),
            scored=rnd.randrange(0, pairs + 1),
            crown_agreement=real(),
            crowned=rnd.randrange(0, pairs + 1),
            kendall_tau=real(),
            ranked=rnd.randrange(0, pairs + 1),
            answer_agreement=real(),
            answered=rnd.randrange(0, pairs + 1),
        ),
        questions={
            q: QuestionPart(
                units=rnd.randrange(1, 5),
                observed=abs(real()) * 3,
                values={v: rnd.randrange(1, 4) for v in rnd.sample(VALUES, rnd.randrange(1, 4))},
            )
            for q in rnd.sample(QUESTION_IDS, rnd.randrange(0, len(QUESTION_IDS) + 1))
        },
    )


def exact(value: float) -> Decimal:
    """The float as the share's JSON holds it."""
    return Decimal(_encode.encode(value).decode())


def expected_sums(shares: list[TaskAgreement]) -> TaskAgreement:
    """The exact sum of ``shares``, rounded once per figure."""

    def total(values: list[float]) -> float:
        return float(sum((exact(v) for v in values), Decimal(0)))

    parts: dict[str, QuestionPart] = {}
    for q in sorted({q for s in shares for q in s.questions}):
        mine = [s.questions[q] for s in shares if q in s.questions]
        values: dict[str, int] = {}
        for part in mine:
            for v, n in part.values.items():
                values[v] = values.get(v, 0) + n
        parts[q] = QuestionPart(
            units=sum(p.units for p in mine),
            observed=total([p.observed for p in mine]),
            values=values,
        )
    sums: dict[str, float | int] = {"pairs": sum(s.pairs.pairs for s in shares)}
    for summed, counter in COMPONENTS:
        sums[summed] = total([getattr(s.pairs, summed) for s in shares])
        sums[counter] = sum(getattr(s.pairs, counter) for s in shares)
    return TaskAgreement(pairs=msgspec.convert(sums, PairSums), questions=parts)


def comparable(share: TaskAgreement) -> TaskAgreement:
    """``share`` without the questions whose parts add up to nothing (as if absent)."""
    kept = {q: p for q, p in share.questions.items() if p.units or p.observed or p.values}
    return TaskAgreement(pairs=share.pairs, questions=dict(sorted(kept.items())))


async def test_the_sums_equal_the_exact_sum_of_the_shares_held_now(fresh_database_url: str) -> None:
    rnd = random.Random(11)
    org = uuid.UUID(int=1)
    held: dict[str, tuple[str, TaskAgreement | None]] = {}  # task -> (project, share)
    conns = [await asyncpg.connect(fresh_database_url) for _ in range(2)]
    conn = conns[0]

    async def write(task_id: str, project: str, share: TaskAgreement | None) -> None:
        encoded = _encode.encode(share).decode() if share is not None else None
        if task_id not in held:
            await conn.execute(
                f"insert into {LIVE.tasks} (task_id, org_id, project_id, data_row_id, created_at,"
                " agreement) values ($1, $2, $3, 'row', now(), $4::jsonb)",
                task_id,
                org,
                project,
                encoded,
            )
        else:  # with the columns the scoring writes beside it, as rescore_task does
            await conn.execute(
                f"update {LIVE.tasks} set agreement = $2::jsonb, consensus_score = 0.5,"
                " status = 'IN_REVIEW' where task_id = $1",
                task_id,
                encoded,
            )
        held[task_id] = (project, share)

    async def check() -> None:
        for project in ("p1", "p2"):
            shares = [s for p, s in held.values() if p == project and s is not None]
            got = await agreement_sums(conn, LIVE, project)
            assert comparable(got) == comparable(expected_sums(shares)), project

    try:
        for step in range(400):
            roll = rnd.random()
            if roll < 0.35 or not held:
                await write(f"t-{step}", rnd.choice(["p1", "p2"]), random_share(rnd))
            elif roll < 0.80:
                task_id = rnd.choice(sorted(held))
                share = None if rnd.random() < 0.15 else random_share(rnd)
                await write(task_id, held[task_id][0], share)
            elif roll < 0.85:  # a write that changes no share notes nothing
                task_id = rnd.choice(sorted(held))
                before = await conn.fetchval("select count(*) from review.agreement_deltas")
                await conn.execute(
                    f"update {LIVE.tasks} set status = 'DONE' where task_id = $1", task_id
                )
                assert await conn.fetchval("select count(*) from review.agreement_deltas") == before
            elif roll < 0.90:
                task_id = rnd.choice(sorted(held))
                await conn.execute(f"delete from {LIVE.tasks} where task_id = $1", task_id)
                del held[task_id]
            elif roll < 0.95:
                await fold_agreement_once(conn)
            else:  # two instances folding at once count each delta once
                await asyncio.gather(*(fold_agreement_once(c) for c in conns))
            if step % 40 == 0:
                await check()
        await check()
        await fold_agreement_once(conn)
        assert await conn.fetchval("select count(*) from review.agreement_deltas") == 0
        await check()
    finally:
        for c in conns:
            await c.close()


NEW_MIGRATIONS = {("review", 4), ("review", 5)}


async def test_the_migration_sums_the_shares_held_before_it(database_url: str) -> None:
    """An upgrade: tasks scored by the previous version get their sums from migration 0004,
    and a task scored without a share is noted by 0005."""
    rnd = random.Random(5)
    name = f"preflog_upgrade_{uuid.uuid4().hex[:8]}"
    dsn = await create_database(database_url, name)
    conn = await asyncpg.connect(dsn)
    try:
        migrations = all_migrations()
        await apply_migrations(
            conn, [m for m in migrations if (m.component, m.version) not in NEW_MIGRATIONS]
        )
        shares = [random_share(rnd) for _ in range(30)]
        await conn.executemany(
            "insert into review.tasks (task_id, org_id, project_id, data_row_id, created_at,"
            " agreement) values ($1, $2, $3, 'row', now(), $4::jsonb)",
            [
                (f"t-{i}", uuid.UUID(int=1), f"p{i % 2}", _encode.encode(s).decode())
                for i, s in enumerate(shares)
            ]
            + [("t-none", uuid.UUID(int=1), "p0", None)],
        )
        # Scored before shares were kept: noted for the report by migration 0005.
        await conn.execute(
            "insert into review.tasks (task_id, org_id, project_id, data_row_id, created_at,"
            " consensus) values ('t-old', $1, 'p1', 'row', now(), '{}'::jsonb)",
            uuid.UUID(int=1),
        )
        assert await apply_migrations(conn, migrations) == [
            "review/0004_agreement_sums",
            "review/0005_unscored_tasks",
        ]
        assert await conn.fetch("select task_id, project_id from review.unscored_tasks") == [
            ("t-old", "p1")
        ]
        for project in ("p0", "p1"):
            mine = [s for i, s in enumerate(shares) if f"p{i % 2}" == project]
            got = await agreement_sums(conn, LIVE, project)
            assert comparable(got) == comparable(expected_sums(mine))
        assert await conn.fetchval("select count(*) from review.agreement_deltas") == 0
    finally:
        await conn.close()
        await drop_database(database_url, name)
