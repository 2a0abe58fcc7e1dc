"""The agreement report's per-annotator figures, grouped in Postgres, are exactly the ones
``annotator_summaries`` computes from every label's record."""

from __future__ import annotations

import json
import random
import uuid

import asyncpg

from preflog_review.adapters.queries import annotator_figures, annotator_rows
from preflog_review.adapters.tables import LIVE
from preflog_review.domain.annotator_stats import AnnotatorLabelRecord, annotator_summaries

STATUSES = ["DRAFT", "SUBMITTED", "APPROVED", "REJECTED"]


async def test_annotator_figures_from_grouped_rows_equal_those_from_records(
    fresh_database_url: str,
) -> None:
    rnd = random.Random(7)

    def maybe(value: float) -> float | None:
        return None if rnd.random() < 0.3 else value

    records = [
        AnnotatorLabelRecord(
            annotator_id=f"ann-{rnd.randrange(6)}",
            label_id=f"l-{i}",
            status=rnd.choice(STATUSES),
            consensus_score=maybe(rnd.random()),
            benchmark_score=maybe(rnd.random()),
            seconds_to_label=maybe(rnd.uniform(1, 600)),
            crown_agreement=maybe(rnd.random()),
            kendall_tau=maybe(rnd.uniform(-1, 1)),
            answer_agreement=maybe(rnd.random()),
        )
        for i in range(3000)
    ]
    # One annotator with drafts only (no figures), one with no scores at all.
    records += [AnnotatorLabelRecord(annotator_id="drafter", label_id="d-1", status="DRAFT")]
    records += [AnnotatorLabelRecord(annotator_id="bare", label_id="b-1", status="SUBMITTED")]
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.executemany(
            f"insert into {LIVE.labels} (label_id, org_id, project_id, task_id, author_id, status,"
            " consensus_score, benchmark_score, seconds_to_label, consensus)"
            " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10::jsonb)",
            [
                (
                    r.label_id,
                    uuid.UUID(int=1),
                    "p",
                    f"t-{r.label_id}",
                    r.annotator_id,
                    r.status,
                    r.consensus_score,
                    r.benchmark_score,
                    r.seconds_to_label,
                    json.dumps(
                        {
                            "label_id": r.label_id,
                            "score": r.consensus_score,
                            "crown_agreement": r.crown_agreement,
                            "kendall_tau": r.kendall_tau,
                            "answer_agreement": r.answer_agreement,
                            "compared_with": 2,
                        }
                    ),
                )
                for r in records
            ],
        )
        await conn.execute(
            f"insert into {LIVE.labels} (label_id, org_id, project_id, task_id, author_id, status)"
            " values ('other', $1, 'another', 't', 'ann-1', 'APPROVED')",
            uuid.UUID(int=1),
        )
        figures = annotator_figures(await annotator_rows(conn, LIVE, "p"))
    finally:
        await conn.close()
    expected = annotator_summaries(records)
    assert [f.annotator_id for f in figures] == [e.annotator_id for e in expected]
    assert "drafter" not in {f.annotator_id for f in figures}
    assert figures == expected  # to the last bit
    assert all(f.crown_agreement is not None and f.kendall_tau is not None for f in figures[:6])
