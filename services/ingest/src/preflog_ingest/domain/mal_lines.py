"""Labelbox model-assisted labeling (MAL) NDJSON lines, decoded and validated.

One line is one annotation on one data row (``dataRow: {globalKey | id}``): a
classification named by ``name`` with ``answer`` (radio: ``{name}``, checklist: a list
of ``{name}`` or the key ``answers``, free text: a string), optionally scoped to a
message (``messageId``), with ``confidence`` and nested ``classifications`` under an
answer; or a ``messageEvaluationTask`` (message ranking, single or multi selection).
Mapping onto a project's ontology is :mod:`preflog_ingest.domain.prelabel_mapping`.
"""

from __future__ import annotations

from typing import Any

import msgspec

from preflog_ingest.domain.json_input import decode_json
from preflog_ingest.domain.results import Rejected, nul_refusal
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError, errors_from_validation


class MalDataRowRef(msgspec.Struct, frozen=True, rename="camel"):
    global_key: str | None = None
    id: str | None = None


class MalAnswer(msgspec.Struct, frozen=True):
    name: str
    confidence: float | None = None
    classifications: list[MalClassification] = msgspec.field(default_factory=list)


class MalClassification(msgspec.Struct, frozen=True):
    name: str
    answer: str | MalAnswer | list[MalAnswer] | None = None
    answers: list[MalAnswer] | None = None
    confidence: float | None = None


class MalEvaluationTask(msgspec.Struct, frozen=True):
    format: str
    data: dict[str, Any]


class MalLine(msgspec.Struct, frozen=True, rename="camel"):
    """One decoded MAL line. ``answer``/``answers`` keep Labelbox's shapes."""

    data_row: MalDataRowRef
    name: str | None = None
    uuid: str | None = None
    answer: str | MalAnswer | list[MalAnswer] | None = None
    answers: list[MalAnswer] | None = None
    message_id: str | None = None
    confidence: float | None = None
    message_evaluation_task: MalEvaluationTask | None = None


class MalMessageRef(msgspec.Struct, frozen=True, rename="camel"):
    message_id: str
    model_config_name: str = ""


class MalRankedMessage(msgspec.Struct, frozen=True, rename="camel"):
    message_id: str
    order: int
    model_config_name: str = ""


class MalRanking(msgspec.Struct, frozen=True, rename="camel"):
    parent_message_id: str
    ranked_messages: list[MalRankedMessage]


class MalSingleSelection(msgspec.Struct, frozen=True, rename="camel"):
    parent_message_id: str
    message_id: str
    model_config_name: str = ""


class MalMultiSelection(msgspec.Struct, frozen=True, rename="camel"):
    parent_message_id: str
    selected_messages: list[MalMessageRef]


EVALUATION_FORMATS: dict[str, type[MalRanking | MalSingleSelection | MalMultiSelection]] = {
    "message-ranking": MalRanking,
    "message-single-selection": MalSingleSelection,
    "message-multi-selection": MalMultiSelection,
}


def parse_prelabel_line(raw: bytes, line_no: int) -> MalLine | Rejected:
    """Decode and validate one MAL NDJSON line (not yet checked against an ontology)."""
    decoded = decode_json(raw)
    if isinstance(decoded, RowError):
        return Rejected(line=line_no, errors=[decoded])
    return parse_prelabel_value(decoded.value, line_no)


def parse_prelabel_value(value: Any, line_no: int) -> MalLine | Rejected:
    """Validate one decoded MAL object (an element of ``importPreLabels(annotations)``)."""
    global_key = _readable_global_key(value)
    refused = nul_refusal(value, line_no, global_key)
    if refused is not None:
        return refused
    try:
        line = msgspec.convert(value, MalLine, strict=True)
    except msgspec.ValidationError as exc:
        return Rejected(line=line_no, errors=errors_from_validation(exc), global_key=global_key)
    errors: list[RowError] = []
    if line.data_row.global_key is None and line.data_row.id is None:
        errors.append(
            _error(IngestErrorCode.MISSING_FIELD, "dataRow", "dataRow needs a globalKey or an id")
        )
    if line.message_evaluation_task is None:
        if line.name is None:
            errors.append(
                _error(IngestErrorCode.MISSING_FIELD, "name", "required field `name` is missing")
            )
        if line.answer is None and line.answers is None:
            errors.append(
                _error(
                    IngestErrorCode.MISSING_FIELD, "answer", "required field `answer` is missing"
                )
            )
    elif line.message_evaluation_task.format not in EVALUATION_FORMATS:
        errors.append(
            _error(
                IngestErrorCode.INVALID_VALUE,
                "messageEvaluationTask.format",
                f"unknown format '{line.message_evaluation_task.format}'; expected one of "
                + ", ".join(EVALUATION_FORMATS),
            )
        )
    if errors:
        return Rejected(line=line_no, errors=errors, global_key=global_key)
    return line


def _error(code: IngestErrorCode, path: str, message: str) -> RowError:
    return RowError(code=code, path=path, message=message)


def _readable_global_key(value: Any) -> str | None:
    """The row key a refused line names, when it can be read without validation."""
    ref = value.get("dataRow") if isinstance(value, dict) else None
    key = ref.get("globalKey") if isinstance(ref, dict) else None
    return key if isinstance(key, str) else None
