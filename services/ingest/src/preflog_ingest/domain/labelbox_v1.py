"""Labelbox conversational rows, version 1 (``application/vnd.labelbox.conversational``).

``messages`` become messages (``messageId`` stays the id); ``modelOutputs`` become one
prompt point after the last message, each output a response whose id is the slug of its
title. Version 1 has no role field: a message whose author id or name starts with
"bot", "assistant", "model" or "ai" is an assistant message, "system" a system message,
anything else a user message.
"""

from __future__ import annotations

from typing import Any

import msgspec

from preflog_contracts.datarow import Author, DataRow, Message, PromptPoint, Response, Role
from preflog_ingest.domain.content_parts import parts_from_markup
from preflog_ingest.domain.conversation_checks import duplicate_ids, too_long, too_many_messages
from preflog_ingest.domain.limits import Limits
from preflog_ingest.domain.results import ConvertedRow
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError, errors_from_validation
from preflog_ingest.domain.stable_ids import prompt_id_after, response_id_from_title

V1_TYPE = "application/vnd.labelbox.conversational"


class V1User(msgspec.Struct, frozen=True, rename="camel"):
    user_id: str
    name: str = ""


class V1Message(msgspec.Struct, frozen=True, rename="camel"):
    message_id: str
    content: str
    user: V1User
    timestamp_usec: int | float | None = None
    align: str | None = None
    can_label: bool = True


class V1ModelOutput(msgspec.Struct, frozen=True, rename="camel"):
    title: str
    content: str
    model_config_name: str


class V1Conversation(msgspec.Struct, frozen=True, rename="camel"):
    type: str
    version: int
    messages: list[V1Message]
    model_outputs: list[V1ModelOutput]


def convert_labelbox_v1(value: dict[str, Any], limits: Limits) -> ConvertedRow | list[RowError]:
    """Validate and convert one v1 row (``type``/``version`` already checked by detection)."""
    raw_messages = value.get("messages")
    if isinstance(raw_messages, list):
        # Checked before decoding so a huge conversation is refused cheaply.
        count_error = too_many_messages(len(raw_messages), "messages", limits)
        if count_error:
            return [count_error]
    try:
        conversation = msgspec.convert(value, V1Conversation, strict=True)
    except msgspec.ValidationError as exc:
        return errors_from_validation(exc)
    errors = _semantic_errors(conversation, limits)
    if errors:
        return errors
    messages = [_message(m) for m in conversation.messages]
    after = messages[-1].id
    responses = [
        Response(
            id=response_id_from_title(output.title, i),
            title=output.title,
            content=parts_from_markup(output.content),
            model_config_name=output.model_config_name,
        )
        for i, output in enumerate(conversation.model_outputs)
    ]
    prompt = PromptPoint(id=prompt_id_after(after), after_message_id=after, responses=responses)
    return ConvertedRow(
        row=DataRow(messages=messages, prompts=[prompt]), source_format="labelbox_v1"
    )


def _semantic_errors(conversation: V1Conversation, limits: Limits) -> list[RowError]:
    errors: list[RowError] = []
    if not conversation.messages:
        errors.append(
            RowError(
                code=IngestErrorCode.NO_MESSAGES,
                path="messages",
                message="a conversation needs at least one message",
            )
        )
    if not conversation.model_outputs:
        errors.append(
            RowError(
                code=IngestErrorCode.NO_MODEL_OUTPUTS,
                path="modelOutputs",
                message="a conversation needs at least one model output to compare",
            )
        )
    for i, message in enumerate(conversation.messages):
        error = too_long(len(message.content), f"messages[{i}].content", limits)
        if error:
            errors.append(error)
    for i, output in enumerate(conversation.model_outputs):
        error = too_long(len(output.content), f"modelOutputs[{i}].content", limits)
        if error:
            errors.append(error)
    errors += duplicate_ids(
        ((m.message_id, f"messages[{i}].messageId") for i, m in enumerate(conversation.messages)),
        IngestErrorCode.DUPLICATE_MESSAGE_ID,
        "message id",
    )
    errors += duplicate_ids(
        (
            (response_id_from_title(o.title, i), f"modelOutputs[{i}].title")
            for i, o in enumerate(conversation.model_outputs)
        ),
        IngestErrorCode.DUPLICATE_RESPONSE_ID,
        "response id (from the title)",
    )
    return errors


def _message(message: V1Message) -> Message:
    return Message(
        id=message.message_id,
        role=role_of_author(message.user.user_id, message.user.name),
        author=Author(id=message.user.user_id, name=message.user.name),
        content=parts_from_markup(message.content),
        timestamp=None if message.timestamp_usec is None else str(message.timestamp_usec),
        align=message.align,
        can_label=message.can_label,
    )


_ASSISTANT_PREFIXES = ("bot", "assistant", "model", "ai")


def role_of_author(user_id: str, name: str) -> Role:
    """The role a v1 author plays, guessed from its id and name (v1 has no role field)."""
    for text in (user_id.casefold().strip(), name.casefold().strip()):
        if text.startswith("system"):
            return "system"
        if any(
            text == prefix or text.startswith((prefix + " ", prefix + "-", prefix + "_"))
            for prefix in _ASSISTANT_PREFIXES
        ):
            return "assistant"
    return "user"
