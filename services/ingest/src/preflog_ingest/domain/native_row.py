"""Our own NDJSON form of a data row: the canonical ``DataRow`` plus the catalog fields.

One line is one :class:`NativeRow`; ``type`` and ``version`` identify the format. The
JSON Schema and an example live in ``proto/ingest/native_row.schema.json`` and
``proto/ingest/native_row.example.json`` (regenerate the schema with
:func:`native_row_schema`; a test fails when the file is stale).
"""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from preflog_contracts.datarow import DataRow, Message, PromptPoint
from preflog_ingest.domain.conversation_checks import canonical_row_errors, too_many_messages
from preflog_ingest.domain.limits import Limits
from preflog_ingest.domain.results import ConvertedRow
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError, errors_from_validation

NATIVE_TYPE = "application/vnd.preflog.datarow"


class NativeRow(msgspec.Struct, frozen=True, kw_only=True, forbid_unknown_fields=True):
    """One data row in Preflog's own import form.

    ``messages`` and ``prompts`` are exactly the canonical ``DataRow`` fields (snake_case
    names, ``Part`` lists as content). ``global_key`` names the row uniquely within the
    organisation; when absent a hash of the line is used.
    """

    type: Literal["application/vnd.preflog.datarow"]
    version: Literal[1]
    messages: list[Message]
    prompts: list[PromptPoint]
    global_key: str | None = None
    external_id: str | None = None
    media_type: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    attachments: list[dict[str, Any]] = msgspec.field(default_factory=list)


def convert_native(value: dict[str, Any], limits: Limits) -> ConvertedRow | list[RowError]:
    """Validate one native row (``type``/``version`` already checked by detection)."""
    raw_messages = value.get("messages")
    if isinstance(raw_messages, list):
        count_error = too_many_messages(len(raw_messages), "messages", limits)
        if count_error:
            return [count_error]
    try:
        native = msgspec.convert(value, NativeRow, strict=True)
    except msgspec.ValidationError as exc:
        return errors_from_validation(exc)
    row = DataRow(messages=native.messages, prompts=native.prompts)
    errors = canonical_row_errors(row, limits)
    if not row.messages:
        errors.insert(
            0,
            RowError(
                code=IngestErrorCode.NO_MESSAGES,
                path="messages",
                message="a row needs at least one message",
            ),
        )
    if errors:
        return errors
    return ConvertedRow(
        row=row,
        source_format="native",
        own_global_key=native.global_key,
        external_id=native.external_id,
        media_type=native.media_type,
        metadata=native.metadata,
        attachments=native.attachments,
    )


def native_row_schema() -> dict[str, Any]:
    """The JSON Schema of :class:`NativeRow`, as in ``proto/ingest/native_row.schema.json``."""
    schema: dict[str, Any] = msgspec.json.schema(NativeRow)
    return schema
