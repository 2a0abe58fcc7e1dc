"""The conversation as chat messages, and each prompt point's prompt."""

from __future__ import annotations

import msgspec

from preflog_contracts.datarow import DataRow
from preflog_export.domain.content import content_text


class ChatMessage(msgspec.Struct, frozen=True, gc=False):
    """``{role, content}`` as TRL and OpenAI expect; content is markdown text."""

    role: str
    content: str


def prompts_by_id(row: DataRow) -> dict[str, list[ChatMessage]]:
    """Each prompt point's prompt: the messages up to and including its ``after_message_id``.

    A prompt point without ``after_message_id`` (or naming an unknown message) takes the
    whole conversation. Message texts are computed once and shared between prompts, so
    callers must not mutate the lists.
    """
    chat = [ChatMessage(m.role, content_text(m.content)) for m in row.messages]
    if len(row.prompts) == 1 and (
        row.prompts[0].after_message_id is None
        or (row.messages and row.messages[-1].id == row.prompts[0].after_message_id)
    ):
        return {row.prompts[0].id: chat}
    position = {m.id: i for i, m in enumerate(row.messages)}
    prompts: dict[str, list[ChatMessage]] = {}
    for point in row.prompts:
        end = position.get(point.after_message_id) if point.after_message_id else None
        prompts[point.id] = chat if end is None else chat[: end + 1]
    return prompts


def assistant_turn(content: str) -> list[ChatMessage]:
    """A completion as the one-message list the pair formats carry."""
    return [ChatMessage("assistant", content)]
