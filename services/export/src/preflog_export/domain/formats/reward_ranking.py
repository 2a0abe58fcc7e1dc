"""``reward_ranking``: one judged prompt point per record with its responses ranked."""

from __future__ import annotations

import msgspec

from preflog_export.domain.conversation import ChatMessage, prompts_by_id
from preflog_export.domain.item import ExportItem
from preflog_export.domain.judgement import exported_labels, judge_item
from preflog_export.domain.options import ExportOptions


class RankedResponse(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    response_id: str
    content: str
    model: str
    rank: int
    score: float


class RewardRankingRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: str
    project_id: str
    task_id: str
    data_row_id: str
    prompt_id: str
    label_ids: list[str]
    source: str
    prompt: list[ChatMessage]
    responses: list[RankedResponse]


def reward_ranking_records(item: ExportItem, options: ExportOptions) -> list[RewardRankingRecord]:
    """One record per judged prompt point, responses best first. ``rank`` is 1 for the top
    tier and counts tiers (responses of one tier share a rank: 1, 2, 2, 3); ``score`` is the
    aggregate score. Responses no label ranked are left out. ``id`` is ``task:prompt``."""
    judgements = judge_item(item, exported_labels(item, options), options)
    if not judgements:
        return []
    prompts = prompts_by_id(item.row)
    return [
        RewardRankingRecord(
            id=f"{item.task_id}:{judgement.prompt_id}",
            project_id=item.project_id,
            task_id=item.task_id,
            data_row_id=item.data_row_id,
            prompt_id=judgement.prompt_id,
            label_ids=judgement.label_ids,
            source=judgement.source,
            prompt=prompts[judgement.prompt_id],
            responses=[
                RankedResponse(
                    response_id=entry.candidate.response_id,
                    content=entry.candidate.content,
                    model=entry.candidate.model,
                    rank=rank,
                    score=round(entry.score, 6),
                )
                for rank, tier in enumerate(judgement.tiers, start=1)
                for entry in tier
            ],
        )
        for judgement in judgements
    ]
