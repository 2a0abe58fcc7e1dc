"""Dataloop prompt items (``"shebang": "dataloop"``, ``metadata.dltype == "prompt"``).

Each key of ``prompts``, in file order, is one message (role from its ``metadata``
element, default user) followed by a prompt point with the same id. Responses come from
Dataloop annotations (``type: "text"``, text in ``coordinates``, linked by
``metadata.system.promptId``, model in ``metadata.user.model``), passed separately or in
the item's ``annotations`` key, or from a ``responses`` key in our own form
(:class:`ItemResponse`). Annotations without a ``promptId`` are labels, not responses,
and are ignored here. An item without any response is accepted (annotators may write
responses where the project allows it).
"""

from __future__ import annotations

from typing import Any

import msgspec

from preflog_contracts.datarow import Author, DataRow, Message, Part, PromptPoint, Response, Role
from preflog_contracts.text import shown
from preflog_ingest.domain.content_parts import media_url, parts_from_markup
from preflog_ingest.domain.conversation_checks import (
    content_part_errors,
    duplicate_ids,
    text_length,
    too_long,
    too_many_messages,
)
from preflog_ingest.domain.limits import Limits
from preflog_ingest.domain.results import ConvertedRow
from preflog_ingest.domain.row_errors import (
    IngestErrorCode,
    RowError,
    errors_from_validation,
    join_path,
    key_path,
)

_TEXT_MIMETYPES = frozenset({"application/text", "text/plain", "text/markdown", "text/html"})
_MEDIA_PREFIXES = {"image/": "image", "video/": "video", "audio/": "audio"}
_ROLES: dict[str, Role] = {"user": "user", "assistant": "assistant", "system": "system"}


class PromptElement(msgspec.Struct, frozen=True):
    mimetype: str
    value: Any


class ItemMetadata(msgspec.Struct, frozen=True):
    dltype: str
    user: dict[str, Any] = msgspec.field(default_factory=dict)


class AnnotationSystem(msgspec.Struct, frozen=True, rename="camel"):
    prompt_id: str | None = None


class AnnotationModel(msgspec.Struct, frozen=True):
    name: str = ""
    model_id: str | None = None
    confidence: float | None = None


class AnnotationUser(msgspec.Struct, frozen=True):
    model: AnnotationModel = AnnotationModel()


class AnnotationMetadata(msgspec.Struct, frozen=True):
    system: AnnotationSystem = AnnotationSystem()
    user: AnnotationUser = AnnotationUser()


class Annotation(msgspec.Struct, frozen=True):
    type: str
    coordinates: Any = None
    label: str = ""
    id: str | None = None
    metadata: AnnotationMetadata = AnnotationMetadata()


class ItemResponse(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """A response in our own form, for a Dataloop item's ``responses`` key.
    ``content`` is markdown/HTML text or a list of canonical parts."""

    prompt_id: str
    content: str | list[Part]
    id: str | None = None
    title: str | None = None
    model_config_name: str = ""
    model_id: str | None = None


class PromptItem(msgspec.Struct, frozen=True):
    shebang: str
    metadata: ItemMetadata
    prompts: dict[str, list[PromptElement]]
    id: str | None = None
    name: str | None = None
    annotations: list[Annotation] = msgspec.field(default_factory=list)
    responses: list[ItemResponse] = msgspec.field(default_factory=list)


def convert_dataloop(
    value: dict[str, Any], limits: Limits, annotations: list[Any] | None = None
) -> ConvertedRow | list[RowError]:
    """Validate and convert one prompt item. ``annotations`` is Dataloop's annotation list
    for the item when it comes in a separate file; errors in it are reported under
    ``annotations[i]``, like annotations embedded in the item."""
    raw_prompts = value.get("prompts")
    if isinstance(raw_prompts, dict):
        count_error = too_many_messages(len(raw_prompts), "prompts", limits)
        if count_error:
            return [count_error]
    payload = value if annotations is None else {**value, "annotations": annotations}
    try:
        item = msgspec.convert(payload, PromptItem, strict=True)
    except msgspec.ValidationError as exc:
        return errors_from_validation(exc)
    if item.metadata.dltype != "prompt":
        return [
            RowError(
                code=IngestErrorCode.WRONG_TYPE,
                path="metadata.dltype",
                message=f"dltype '{item.metadata.dltype}' is not a prompt item",
            )
        ]
    if not item.prompts:
        return [
            RowError(
                code=IngestErrorCode.NO_PROMPTS, path="prompts", message="the item has no prompts"
            )
        ]
    errors: list[RowError] = []
    messages = [_message(key, elements, limits, errors) for key, elements in item.prompts.items()]
    responses = _responses(item, limits, errors)
    if errors:
        return errors
    row = DataRow(
        messages=messages,
        prompts=[
            PromptPoint(id=key, after_message_id=key, responses=responses.get(key, []))
            for key in item.prompts
        ],
    )
    return ConvertedRow(
        row=row,
        source_format="dataloop",
        own_global_key=item.id,
        external_id=item.name,
        metadata=dict(item.metadata.user),
    )


def _message(
    key: str, elements: list[PromptElement], limits: Limits, errors: list[RowError]
) -> Message:
    parts: list[Part] = []
    role: Role = "user"
    text_length = 0
    for i, element in enumerate(elements):
        path = f"{key_path('prompts', key)}[{i}]"
        mimetype = element.mimetype.lower()
        if mimetype == "metadata":
            declared = element.value.get("role") if isinstance(element.value, dict) else None
            if declared is not None:
                if isinstance(declared, str) and declared in _ROLES:
                    role = _ROLES[declared]
                else:
                    errors.append(
                        RowError(
                            code=IngestErrorCode.INVALID_VALUE,
                            path=f"{path}.value.role",
                            message=f"role {shown(declared)} is not one of user, assistant, system",
                        )
                    )
            continue
        if not isinstance(element.value, str):
            errors.append(
                RowError(
                    code=IngestErrorCode.WRONG_TYPE,
                    path=f"{path}.value",
                    message=f"Expected `str` for mimetype '{element.mimetype}'",
                )
            )
            continue
        if mimetype in _TEXT_MIMETYPES:
            text_length += len(element.value)
            parts.extend(parts_from_markup(element.value))
            continue
        kind = next((k for p, k in _MEDIA_PREFIXES.items() if mimetype.startswith(p)), None)
        if kind is None:
            errors.append(
                RowError(
                    code=IngestErrorCode.UNSUPPORTED_MIMETYPE,
                    path=f"{path}.mimetype",
                    message=f"mimetype {shown(element.mimetype)} is not supported "
                    "(text, image/*, video/*, audio/*)",
                )
            )
            continue
        url = media_url(element.value)
        if url is None:
            errors.append(
                RowError(
                    code=IngestErrorCode.BAD_URL,
                    path=f"{path}.value",
                    message=f"{kind} value must be an http(s) URL",
                )
            )
            continue
        parts.append(Part(kind=kind, value=url, mimetype=element.mimetype))  # type: ignore[arg-type]
    length_error = too_long(text_length, key_path("prompts", key), limits)
    if length_error:
        errors.append(length_error)
    return Message(id=key, role=role, author=Author(), content=parts)


def _responses(
    item: PromptItem, limits: Limits, errors: list[RowError]
) -> dict[str, list[Response]]:
    by_prompt: dict[str, list[Response]] = {}
    id_paths: list[tuple[str, str]] = []

    def known(prompt_id: str, path: str) -> bool:
        if prompt_id in item.prompts:
            return True
        errors.append(
            RowError(
                code=IngestErrorCode.UNKNOWN_PROMPT,
                path=path,
                message=f"the item has no prompt '{prompt_id}'",
            )
        )
        return False

    def number(prompt_id: str) -> int:
        return len(by_prompt.get(prompt_id, [])) + 1

    for i, annotation in enumerate(item.annotations):
        prompt_id = annotation.metadata.system.prompt_id
        if prompt_id is None:
            continue
        path = f"annotations[{i}]"
        if annotation.type != "text" or not isinstance(annotation.coordinates, str):
            errors.append(
                RowError(
                    code=IngestErrorCode.UNSUPPORTED_CONTENT,
                    path=join_path(path, "type" if annotation.type != "text" else "coordinates"),
                    message="a response annotation must be of type 'text' with its text in "
                    "'coordinates'",
                )
            )
            continue
        length_error = too_long(len(annotation.coordinates), f"{path}.coordinates", limits)
        if length_error:
            errors.append(length_error)
            continue
        if not known(prompt_id, f"{path}.metadata.system.promptId"):
            continue
        n = number(prompt_id)
        model = annotation.metadata.user.model
        response = Response(
            id=annotation.id or f"{prompt_id}-{n}",
            title=model.name or f"Response {n}",
            content=parts_from_markup(annotation.coordinates),
            model_config_name=model.name,
            model_id=model.model_id,
        )
        by_prompt.setdefault(prompt_id, []).append(response)
        id_paths.append((response.id, f"{path}.id"))
    for i, own in enumerate(item.responses):
        path = f"responses[{i}]"
        if isinstance(own.content, str):
            content = parts_from_markup(own.content)
        else:
            content = own.content
            errors.extend(e.within(path) for e in content_part_errors(content, "content"))
        length_error = too_long(text_length(content), f"{path}.content", limits)
        if length_error:
            errors.append(length_error)
        if not known(own.prompt_id, f"{path}.prompt_id"):
            continue
        n = number(own.prompt_id)
        response = Response(
            id=own.id or f"{own.prompt_id}-{n}",
            title=own.title or own.model_config_name or f"Response {n}",
            content=content,
            model_config_name=own.model_config_name,
            model_id=own.model_id,
        )
        by_prompt.setdefault(own.prompt_id, []).append(response)
        id_paths.append((response.id, f"{path}.id"))
    errors.extend(duplicate_ids(id_paths, IngestErrorCode.DUPLICATE_RESPONSE_ID, "response id"))
    return by_prompt
