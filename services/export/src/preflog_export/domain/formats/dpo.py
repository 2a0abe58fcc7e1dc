"""``dpo``: one preference pair per record in TRL's conversational preference shape."""

from __future__ import annotations

import msgspec

from preflog_export.domain.conversation import ChatMessage, assistant_turn, prompts_by_id
from preflog_export.domain.item import ExportItem
from preflog_export.domain.judgement import exported_labels, judge_item
from preflog_export.domain.options import ExportOptions
from preflog_export.domain.pairs import pairs_of


class DpoRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: str
    project_id: str
    task_id: str
    data_row_id: str
    prompt_id: str
    label_ids: list[str]
    prompt: list[ChatMessage]
    chosen: list[ChatMessage]
    rejected: list[ChatMessage]
    chosen_model: str
    rejected_model: str
    chosen_response_id: str
    rejected_response_id: str
    margin: float
    source: str


def dpo_records(item: ExportItem, options: ExportOptions) -> list[DpoRecord]:
    """Every pair of every judged prompt point; none when nothing is judged. ``id`` is
    ``task:prompt:chosen:rejected``, stable across exports."""
    judgements = judge_item(item, exported_labels(item, options), options)
    if not judgements:
        return []
    prompts = prompts_by_id(item.row)
    records: list[DpoRecord] = []
    for judgement in judgements:
        prompt_id = judgement.prompt_id
        prompt = prompts[prompt_id]
        prefix = f"{item.task_id}:{prompt_id}:"
        for pair in pairs_of(judgement, options.pair_strategy):
            chosen, rejected = pair.chosen, pair.rejected
            records.append(
                DpoRecord(
                    id=f"{prefix}{chosen.response_id}:{rejected.response_id}",
                    project_id=item.project_id,
                    task_id=item.task_id,
                    data_row_id=item.data_row_id,
                    prompt_id=prompt_id,
                    label_ids=judgement.label_ids,
                    prompt=prompt,
                    chosen=assistant_turn(chosen.content),
                    rejected=assistant_turn(rejected.content),
                    chosen_model=chosen.model,
                    rejected_model=rejected.model,
                    chosen_response_id=chosen.response_id,
                    rejected_response_id=rejected.response_id,
                    margin=pair.margin,
                    source=judgement.source,
                )
            )
    return records
