"""``openai_preference``: one pair per record in OpenAI's preference fine-tuning shape.

The record holds only the keys OpenAI documents (``input``, ``preferred_output``,
``non_preferred_output``) so the file uploads as it is; records come in the same order as
``dpo`` records, whose ids identify them.
"""

from __future__ import annotations

import msgspec

from preflog_export.domain.conversation import ChatMessage, assistant_turn, prompts_by_id
from preflog_export.domain.item import ExportItem
from preflog_export.domain.judgement import exported_labels, judge_item
from preflog_export.domain.options import ExportOptions
from preflog_export.domain.pairs import pairs_of


class OpenAIInput(msgspec.Struct, frozen=True, gc=False):
    messages: list[ChatMessage]


class OpenAIPreferenceRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    input: OpenAIInput
    preferred_output: list[ChatMessage]
    non_preferred_output: list[ChatMessage]


def openai_preference_records(
    item: ExportItem, options: ExportOptions
) -> list[OpenAIPreferenceRecord]:
    """The same pairs as :func:`dpo_records`, in the same order."""
    judgements = judge_item(item, exported_labels(item, options), options)
    if not judgements:
        return []
    prompts = prompts_by_id(item.row)
    records: list[OpenAIPreferenceRecord] = []
    for judgement in judgements:
        prompt_input = OpenAIInput(prompts[judgement.prompt_id])
        for pair in pairs_of(judgement, options.pair_strategy):
            records.append(
                OpenAIPreferenceRecord(
                    input=prompt_input,
                    preferred_output=assistant_turn(pair.chosen.content),
                    non_preferred_output=assistant_turn(pair.rejected.content),
                )
            )
    return records
