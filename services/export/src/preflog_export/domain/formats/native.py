"""``native``: one task per record with its data row, every exported label, review
history, scores, and the aggregate judgement the pair formats use."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from preflog_contracts.datarow import Message, PromptPoint
from preflog_contracts.events.labels import Answer, Crown, EditedResponse
from preflog_contracts.events.projects import Question
from preflog_export.domain.item import ExportItem, ExportLabel, Person, Review
from preflog_export.domain.judgement import exported_labels, judge_item
from preflog_export.domain.options import ExportOptions

NATIVE_VERSION = 1


class NativeDataRow(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    global_key: str
    messages: list[Message]
    prompts: list[PromptPoint]
    external_id: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


class NativeRank(msgspec.Struct, frozen=True, kw_only=True):
    response_id: str
    rank: int


class NativeRanking(msgspec.Struct, frozen=True, kw_only=True):
    prompt_id: str
    ranking: list[NativeRank]


class NativeLabel(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    label_id: str
    author: Person
    status: str
    submitted_at: datetime
    rankings: list[NativeRanking]
    crowns: list[Crown]
    answers: list[Answer]
    responses: list[EditedResponse]
    reviews: list[Review]
    started_at: datetime | None = None
    approved_at: datetime | None = None
    consensus_score: float | None = None
    benchmark_score: float | None = None
    is_benchmark_reference: bool = False


class AggregateResponse(msgspec.Struct, frozen=True, kw_only=True):
    response_id: str
    model: str
    rank: int
    score: float
    edited: bool
    added: bool


class Aggregate(msgspec.Struct, frozen=True, kw_only=True):
    prompt_id: str
    source: str
    label_ids: list[str]
    responses: list[AggregateResponse]


class NativeRecord(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    project_id: str
    task_id: str
    batch_id: str
    workflow_status: str
    rank_mode: str
    data_row: NativeDataRow
    questions: list[Question]
    labels: list[NativeLabel]
    aggregate: list[Aggregate]


def native_records(item: ExportItem, options: ExportOptions) -> list[NativeRecord]:
    """One record for the task, or none when no label passes the status filter. The data
    row is the original (edits live in the labels); ``aggregate`` ranks the exported
    responses (edited, added ones included, deleted ones excluded) per judged prompt."""
    labels = exported_labels(item, options)
    if not labels:
        return []
    judgements = judge_item(item, labels, options)
    return [
        NativeRecord(
            version=NATIVE_VERSION,
            project_id=item.project_id,
            task_id=item.task_id,
            batch_id=item.batch_id,
            workflow_status=item.workflow_status,
            rank_mode=item.rank_mode,
            data_row=NativeDataRow(
                id=item.data_row_id,
                global_key=item.global_key,
                external_id=item.external_id,
                metadata=item.metadata,
                messages=item.row.messages,
                prompts=item.row.prompts,
            ),
            questions=item.questions,
            labels=[_native_label(label) for label in labels],
            aggregate=[
                Aggregate(
                    prompt_id=judgement.prompt_id,
                    source=judgement.source,
                    label_ids=judgement.label_ids,
                    responses=[
                        AggregateResponse(
                            response_id=entry.candidate.response_id,
                            model=entry.candidate.model,
                            rank=rank,
                            score=round(entry.score, 6),
                            edited=entry.candidate.edited,
                            added=entry.candidate.added,
                        )
                        for rank, tier in enumerate(judgement.tiers, start=1)
                        for entry in tier
                    ],
                )
                for judgement in judgements
            ],
        )
    ]


def _native_label(label: ExportLabel) -> NativeLabel:
    snapshot = label.snapshot
    return NativeLabel(
        label_id=label.label_id,
        author=label.author,
        status=label.status,
        submitted_at=label.submitted_at,
        started_at=label.started_at,
        approved_at=label.approved_at,
        rankings=[
            NativeRanking(
                prompt_id=ranking.prompt_id,
                ranking=[
                    NativeRank(response_id=e.response_id, rank=e.rank) for e in ranking.ranking
                ],
            )
            for ranking in snapshot.rankings
        ],
        crowns=snapshot.crowns,
        answers=snapshot.answers,
        responses=snapshot.responses,
        reviews=label.reviews,
        consensus_score=label.consensus_score,
        benchmark_score=label.benchmark_score,
        is_benchmark_reference=label.is_benchmark_reference,
    )
