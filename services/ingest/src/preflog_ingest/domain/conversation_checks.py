"""Checks every format shares once it is in canonical shape: sizes, unique ids,
references between prompt points and messages."""

from __future__ import annotations

from collections.abc import Iterable

from preflog_contracts.datarow import DataRow, Part
from preflog_ingest.domain.content_parts import media_url
from preflog_ingest.domain.limits import Limits
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError


def too_many_messages(count: int, path: str, limits: Limits) -> RowError | None:
    """TOO_MANY_MESSAGES when a conversation has more messages than allowed."""
    if count > limits.max_messages:
        return RowError(
            code=IngestErrorCode.TOO_MANY_MESSAGES,
            path=path,
            message=f"{count} messages; at most {limits.max_messages} are allowed",
        )
    return None


def too_long(length: int, path: str, limits: Limits) -> RowError | None:
    """MESSAGE_TOO_LONG when one message or response has more characters than allowed."""
    if length > limits.max_message_chars:
        return RowError(
            code=IngestErrorCode.MESSAGE_TOO_LONG,
            path=path,
            message=(f"{length} characters; at most {limits.max_message_chars} are allowed"),
        )
    return None


def duplicate_ids(
    ids: Iterable[tuple[str, str]], code: IngestErrorCode, what: str
) -> list[RowError]:
    """One error per repeated id; ``ids`` yields ``(id, path of the field holding it)``."""
    seen: dict[str, str] = {}
    errors = []
    for id_, path in ids:
        if id_ in seen:
            errors.append(
                RowError(
                    code=code, path=path, message=f"{what} '{id_}' already used at {seen[id_]}"
                )
            )
        else:
            seen[id_] = path
    return errors


def canonical_row_errors(row: DataRow, limits: Limits) -> list[RowError]:
    """Problems of a canonical row built from any format: counts, lengths, unique message,
    prompt and response ids, prompt points that follow an unknown message. Paths use the
    canonical field names (``messages[0].content``, ``prompts[1].responses[0].id``)."""
    errors: list[RowError] = []
    count_error = too_many_messages(len(row.messages), "messages", limits)
    if count_error:
        errors.append(count_error)
    for i, message in enumerate(row.messages):
        length_error = too_long(text_length(message.content), f"messages[{i}].content", limits)
        if length_error:
            errors.append(length_error)
        errors += content_part_errors(message.content, f"messages[{i}].content")
    errors += duplicate_ids(
        ((m.id, f"messages[{i}].id") for i, m in enumerate(row.messages)),
        IngestErrorCode.DUPLICATE_MESSAGE_ID,
        "message id",
    )
    errors += duplicate_ids(
        ((p.id, f"prompts[{i}].id") for i, p in enumerate(row.prompts)),
        IngestErrorCode.DUPLICATE_PROMPT_ID,
        "prompt id",
    )
    errors += duplicate_ids(
        (
            (r.id, f"prompts[{i}].responses[{j}].id")
            for i, p in enumerate(row.prompts)
            for j, r in enumerate(p.responses)
        ),
        IngestErrorCode.DUPLICATE_RESPONSE_ID,
        "response id",
    )
    message_ids = {m.id for m in row.messages}
    for i, prompt in enumerate(row.prompts):
        if prompt.after_message_id is not None and prompt.after_message_id not in message_ids:
            errors.append(
                RowError(
                    code=IngestErrorCode.UNKNOWN_MESSAGE,
                    path=f"prompts[{i}].after_message_id",
                    message=f"no message has id '{prompt.after_message_id}'",
                )
            )
        for j, response in enumerate(prompt.responses):
            content_path = f"prompts[{i}].responses[{j}].content"
            length_error = too_long(text_length(response.content), content_path, limits)
            if length_error:
                errors.append(length_error)
            errors += content_part_errors(response.content, content_path)
    return errors


def text_length(parts: Iterable[Part]) -> int:
    """Characters of the text-like parts; media parts carry URLs and do not count."""
    return sum(len(p.value) for p in parts if p.kind in ("text", "markdown", "html"))


def content_part_errors(parts: list[Part], path: str) -> list[RowError]:
    """BAD_URL for media and url parts whose value is not an absolute http(s) URL."""
    return [
        RowError(
            code=IngestErrorCode.BAD_URL,
            path=f"{path}[{i}].value",
            message=f"a {part.kind} part needs an http(s) URL",
        )
        for i, part in enumerate(parts)
        if part.kind in ("image", "video", "audio", "url") and media_url(part.value) is None
    ]
