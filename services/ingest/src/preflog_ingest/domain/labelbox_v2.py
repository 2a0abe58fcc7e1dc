"""Labelbox multimodal chat, version 2
(``application/vnd.labelbox.conversational.model-chat-evaluation``).

The message tree is walked from its single root. A human message whose children are
several model messages is a prompt point (``prompt-<human message id>``) with one
response per child (the response keeps the child's message id). The conversation
continues through the one child that has children of its own, which also appears in
``messages`` (it is context for later prompts). A message with one child simply
continues the conversation. Several continuing children, cycles, unknown ids and
messages the walk never reaches are refused: they would silently drop data.
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from preflog_contracts.datarow import (
    Author,
    DataRow,
    Message,
    Part,
    PromptPoint,
    Response,
    Role,
)
from preflog_contracts.text import shown
from preflog_ingest.domain.content_parts import media_url, parts_from_markup
from preflog_ingest.domain.conversation_checks import too_long, too_many_messages
from preflog_ingest.domain.limits import Limits
from preflog_ingest.domain.results import ConvertedRow
from preflog_ingest.domain.row_errors import (
    IngestErrorCode,
    RowError,
    errors_from_validation,
    key_path,
)
from preflog_ingest.domain.stable_ids import prompt_id_after

V2_TYPE = "application/vnd.labelbox.conversational.model-chat-evaluation"

_ROLES: dict[str, Role] = {"human": "user", "model": "assistant", "system": "system"}


class V2ActorMetadata(msgspec.Struct, frozen=True, rename="camel"):
    name: str = ""
    model_config_name: str = ""
    model_config_id: str | None = None


class V2Actor(msgspec.Struct, frozen=True, rename="camel"):
    role: Literal["human", "model", "system"]
    metadata: V2ActorMetadata = V2ActorMetadata()


class V2ContentPart(msgspec.Struct, frozen=True, rename="camel"):
    type: str
    content: str


class V2Message(msgspec.Struct, frozen=True, rename="camel"):
    actor_id: str
    content: list[V2ContentPart]
    child_message_ids: list[str] = msgspec.field(default_factory=list)


class V2Conversation(msgspec.Struct, frozen=True, rename="camel"):
    type: str
    version: int
    actors: dict[str, V2Actor]
    messages: dict[str, V2Message]
    root_message_ids: list[str]
    draft: bool = False


def convert_labelbox_v2(value: dict[str, Any], limits: Limits) -> ConvertedRow | list[RowError]:
    """Validate and convert one v2 row (``type``/``version`` already checked by detection)."""
    raw_messages = value.get("messages")
    if isinstance(raw_messages, dict):
        count_error = too_many_messages(len(raw_messages), "messages", limits)
        if count_error:
            return [count_error]
    try:
        conversation = msgspec.convert(value, V2Conversation, strict=True)
    except msgspec.ValidationError as exc:
        return errors_from_validation(exc)
    errors = _node_errors(conversation, limits)
    if errors:
        return errors
    return _walk(conversation)


def _node_errors(conversation: V2Conversation, limits: Limits) -> list[RowError]:
    errors: list[RowError] = []
    for message_id, message in conversation.messages.items():
        path = key_path("messages", message_id)
        if message.actor_id not in conversation.actors:
            errors.append(
                RowError(
                    code=IngestErrorCode.UNKNOWN_ACTOR,
                    path=f"{path}.actorId",
                    message=f"no actor has id '{message.actor_id}'",
                )
            )
        length = 0
        for i, part in enumerate(message.content):
            part_path = f"{path}.content[{i}]"
            if part.type in ("image", "video", "audio"):
                if media_url(part.content) is None:
                    errors.append(
                        RowError(
                            code=IngestErrorCode.BAD_URL,
                            path=f"{part_path}.content",
                            message=f"{part.type} content must be an http(s) URL",
                        )
                    )
            elif part.type == "text":
                length += len(part.content)
            else:
                errors.append(
                    RowError(
                        code=IngestErrorCode.UNSUPPORTED_CONTENT,
                        path=f"{part_path}.type",
                        message=f"content type {shown(part.type)} is not supported "
                        "(text, image, video, audio)",
                    )
                )
        length_error = too_long(length, f"{path}.content", limits)
        if length_error:
            errors.append(length_error)
        for i, child in enumerate(message.child_message_ids):
            if child not in conversation.messages:
                errors.append(
                    RowError(
                        code=IngestErrorCode.UNKNOWN_MESSAGE,
                        path=f"{path}.childMessageIds[{i}]",
                        message=f"no message has id '{child}'",
                    )
                )
    if len(conversation.root_message_ids) != 1:
        errors.append(
            RowError(
                code=IngestErrorCode.BROKEN_TREE,
                path="rootMessageIds",
                message=f"exactly one root message is needed, got "
                f"{len(conversation.root_message_ids)}",
            )
        )
    elif conversation.root_message_ids[0] not in conversation.messages:
        errors.append(
            RowError(
                code=IngestErrorCode.UNKNOWN_MESSAGE,
                path="rootMessageIds[0]",
                message=f"no message has id '{conversation.root_message_ids[0]}'",
            )
        )
    return errors


def _walk(conversation: V2Conversation) -> ConvertedRow | list[RowError]:
    messages: list[Message] = []
    prompts: list[PromptPoint] = []
    visited: set[str] = set()
    current: str | None = conversation.root_message_ids[0]
    while current is not None:
        path = key_path("messages", current)
        if current in visited:
            return [_broken(path, f"message '{current}' is reached twice (a cycle)")]
        visited.add(current)
        node = conversation.messages[current]
        messages.append(_message(current, node, conversation))
        children = node.child_message_ids
        continuing = [c for c in children if conversation.messages[c].child_message_ids]
        if len(continuing) > 1:
            return [
                _broken(
                    f"{path}.childMessageIds",
                    f"several children of '{current}' continue the conversation: "
                    + ", ".join(continuing),
                )
            ]
        is_human = conversation.actors[node.actor_id].role == "human"
        model_children = [
            c
            for c in children
            if conversation.actors[conversation.messages[c].actor_id].role == "model"
        ]
        if is_human and len(children) > 1 and len(model_children) == len(children):
            responses = []
            for child in children:
                if child in visited:
                    return [_broken(path, f"message '{child}' is reached twice (a cycle)")]
                visited.add(child)
                responses.append(_response(child, conversation))
            prompts.append(
                PromptPoint(
                    id=prompt_id_after(current), after_message_id=current, responses=responses
                )
            )
            # The continuing child was marked visited as a response; it is still walked
            # as a message of the conversation.
            if continuing:
                visited.discard(continuing[0])
            current = continuing[0] if continuing else None
        elif len(children) > 1:
            return [
                _broken(
                    f"{path}.childMessageIds",
                    f"'{current}' has several children but is not a human message followed "
                    "only by model messages",
                )
            ]
        else:
            current = children[0] if children else None
    unreachable = [m for m in conversation.messages if m not in visited]
    if unreachable:
        return [
            _broken(
                key_path("messages", unreachable[0]),
                f"message '{unreachable[0]}' is not reachable from the root",
            )
        ]
    return ConvertedRow(
        row=DataRow(messages=messages, prompts=prompts), source_format="labelbox_v2"
    )


def _content(node: V2Message) -> list[Part]:
    parts: list[Part] = []
    for part in node.content:
        if part.type == "text":
            parts.extend(parts_from_markup(part.content))
        else:
            url = media_url(part.content)
            assert url is not None  # checked in _node_errors
            parts.append(Part(kind=part.type, value=url))  # type: ignore[arg-type]
    return parts


def _message(message_id: str, node: V2Message, conversation: V2Conversation) -> Message:
    actor = conversation.actors[node.actor_id]
    name = actor.metadata.name or actor.metadata.model_config_name
    return Message(
        id=message_id,
        role=_ROLES[actor.role],
        author=Author(id=node.actor_id, name=name),
        content=_content(node),
    )


def _response(message_id: str, conversation: V2Conversation) -> Response:
    node = conversation.messages[message_id]
    actor = conversation.actors[node.actor_id]
    return Response(
        id=message_id,
        title=actor.metadata.model_config_name or message_id,
        content=_content(node),
        model_config_name=actor.metadata.model_config_name,
        model_id=actor.metadata.model_config_id,
    )


def _broken(path: str, message: str) -> RowError:
    return RowError(code=IngestErrorCode.BROKEN_TREE, path=path, message=message)
