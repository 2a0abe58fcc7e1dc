"""``hh``: one pair per record as Anthropic HH-RLHF transcripts.

Each transcript is the prompt's turns as ``\\n\\nHuman: ...`` / ``\\n\\nAssistant: ...``
followed by the response as the last Assistant turn. HH has no system turn: a system
message's text opens the next Human turn (or becomes a Human turn of its own when an
Assistant turn follows it directly).
"""

from __future__ import annotations

import msgspec

from preflog_export.domain.conversation import ChatMessage, prompts_by_id
from preflog_export.domain.item import ExportItem
from preflog_export.domain.judgement import exported_labels, judge_item
from preflog_export.domain.options import ExportOptions
from preflog_export.domain.pairs import pairs_of

HUMAN = "\n\nHuman: "
ASSISTANT = "\n\nAssistant: "


class HhRecord(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    id: str
    project_id: str
    data_row_id: str
    chosen: str
    rejected: str


def hh_transcript(prompt: list[ChatMessage]) -> str:
    """The prompt as HH turns, ending just before the final ``\\n\\nAssistant: ``."""
    turns: list[str] = []
    pending_system: list[str] = []
    for message in prompt:
        if message.role == "system":
            pending_system.append(message.content)
        elif message.role == "user":
            turns.append(HUMAN + "\n\n".join([*pending_system, message.content]))
            pending_system = []
        else:
            if pending_system:
                turns.append(HUMAN + "\n\n".join(pending_system))
                pending_system = []
            turns.append(ASSISTANT + message.content)
    if pending_system:
        turns.append(HUMAN + "\n\n".join(pending_system))
    return "".join(turns)


def hh_records(item: ExportItem, options: ExportOptions) -> list[HhRecord]:
    """The same pairs as :func:`dpo_records`, with the same ids."""
    judgements = judge_item(item, exported_labels(item, options), options)
    if not judgements:
        return []
    prompts = prompts_by_id(item.row)
    records: list[HhRecord] = []
    for judgement in judgements:
        head = hh_transcript(prompts[judgement.prompt_id]) + ASSISTANT
        prefix = f"{item.task_id}:{judgement.prompt_id}:"
        for pair in pairs_of(judgement, options.pair_strategy):
            records.append(
                HhRecord(
                    id=f"{prefix}{pair.chosen.response_id}:{pair.rejected.response_id}",
                    project_id=item.project_id,
                    data_row_id=item.data_row_id,
                    chosen=head + pair.chosen.content,
                    rejected=head + pair.rejected.content,
                )
            )
    return records
