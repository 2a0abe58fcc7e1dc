"""The entry points of row import: one NDJSON line, one JSON value, one fetched body.

A streaming importer calls :func:`parse_line` for every NDJSON line (or
:func:`parse_value` for every element of a JSON array), feeds the results through
``SeenGlobalKeys.check`` to catch duplicate keys within the import, fetches the URL of
every :class:`NeedsFetch` (checking each hop with ``check_url``) and finishes it with
:func:`parse_fetched`. None of these raise on bad input: every problem is a
:class:`Rejected` naming the line, the field path and a code.
"""

from __future__ import annotations

from typing import Any

from preflog_ingest.domain.dataloop import convert_dataloop
from preflog_ingest.domain.format_detection import detect_format
from preflog_ingest.domain.global_keys import payload_hash_key
from preflog_ingest.domain.import_row import ImportFields, decode_import_row, row_data_url_error
from preflog_ingest.domain.json_input import decode_json
from preflog_ingest.domain.labelbox_v1 import convert_labelbox_v1
from preflog_ingest.domain.labelbox_v2 import convert_labelbox_v2
from preflog_ingest.domain.limits import DEFAULT_LIMITS, Limits
from preflog_ingest.domain.native_row import convert_native
from preflog_ingest.domain.results import (
    BlankLine,
    ConvertedRow,
    LineResult,
    NeedsFetch,
    ParsedRow,
    Rejected,
    RowResult,
    nul_refusal,
)
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError

_CONVERTERS = {
    "labelbox_v1": convert_labelbox_v1,
    "labelbox_v2": convert_labelbox_v2,
    "dataloop": convert_dataloop,
    "native": convert_native,
}


def parse_line(raw: bytes, line_no: int, limits: Limits = DEFAULT_LIMITS) -> LineResult:
    """Parse one NDJSON line (without or with its newline). A blank line is a
    :class:`BlankLine`; a line that is not JSON is rejected with INVALID_JSON."""
    text = raw.strip()
    if line_no <= 1:
        text = text.removeprefix(b"\xef\xbb\xbf").strip()  # a UTF-8 BOM may start the file
    if not text:
        return BlankLine(line=line_no)
    decoded = decode_json(text)
    if isinstance(decoded, RowError):
        return Rejected(line=line_no, errors=[decoded])
    return parse_value(decoded.value, line_no, limits)


def parse_value(value: Any, line_no: int, limits: Limits = DEFAULT_LIMITS) -> RowResult:
    """Parse one decoded row in any supported format (see ``detect_format``)."""
    key = _readable_key(value)
    refused = nul_refusal(value, line_no, key)
    if refused is not None:
        return refused
    detected = detect_format(value)
    if isinstance(detected, RowError):
        return Rejected(line=line_no, errors=[detected], global_key=key)
    if detected != "import_row":
        converted = _CONVERTERS[detected](value, limits)
        if isinstance(converted, list):
            return Rejected(line=line_no, errors=converted, global_key=_readable_key(value))
        return _parsed(line_no, converted, None, value, value)
    decoded = decode_import_row(value)
    if isinstance(decoded, list):
        return Rejected(line=line_no, errors=decoded, global_key=_readable_key(value))
    import_row, fields = decoded
    if isinstance(import_row.row_data, str):
        return _url_row(line_no, import_row.row_data, fields, value, limits)
    inner = _convert_inline(import_row.row_data, limits)
    if isinstance(inner, list):
        return Rejected(
            line=line_no, errors=[e.within("row_data") for e in inner], global_key=fields.global_key
        )
    return _parsed(line_no, inner, fields, value, value)


def parse_fetched(body: bytes, pending: NeedsFetch, limits: Limits = DEFAULT_LIMITS) -> RowResult:
    """Finish an import row whose ``row_data`` URL was fetched: ``body`` is the document.
    Errors are reported under ``row_data``; the parsed row's ``original`` holds both the
    import row and the fetched document. Never returns another :class:`NeedsFetch`."""
    decoded = decode_json(body)
    if isinstance(decoded, RowError):
        return Rejected(
            line=pending.line, errors=[decoded.within("row_data")], global_key=pending.global_key
        )
    refused = nul_refusal(decoded.value, pending.line, pending.global_key, "row_data")
    if refused is not None:
        return refused
    inner = _convert_inline(decoded.value, limits)
    if isinstance(inner, list):
        return Rejected(
            line=pending.line,
            errors=[e.within("row_data") for e in inner],
            global_key=pending.global_key,
        )
    fields = ImportFields(
        global_key=pending.global_key if pending.global_key_source == "import_row" else None,
        external_id=pending.external_id,
        media_type=pending.media_type,
        metadata=pending.metadata,
        attachments=pending.attachments,
    )
    original = {"import_row": pending.original, "fetched": decoded.value}
    parsed = _parsed(pending.line, inner, fields, original, pending.original)
    return parsed


def _convert_inline(value: Any, limits: Limits) -> ConvertedRow | list[RowError]:
    detected = detect_format(value)
    if isinstance(detected, RowError):
        return [detected]
    if detected == "import_row":
        return [
            RowError(
                code=IngestErrorCode.UNKNOWN_FORMAT,
                path="row_data",
                message="row_data may not itself be an import row",
            )
        ]
    return _CONVERTERS[detected](value, limits)


def _url_row(
    line_no: int, url: str, fields: ImportFields, value: Any, limits: Limits
) -> NeedsFetch | Rejected:
    error = row_data_url_error(url, limits)
    if error is not None:
        return Rejected(line=line_no, errors=[error], global_key=fields.global_key)
    key, source = (
        (fields.global_key, "import_row")
        if fields.global_key is not None
        else (payload_hash_key(value), "hash")
    )
    return NeedsFetch(
        line=line_no,
        url=url.strip(),
        global_key=key,
        global_key_source=source,  # type: ignore[arg-type]
        external_id=fields.external_id,
        media_type=fields.media_type,
        metadata=fields.metadata,
        attachments=fields.attachments,
        original=value,
    )


def _parsed(
    line_no: int,
    converted: ConvertedRow,
    fields: ImportFields | None,
    original: Any,
    hashed: Any,
) -> ParsedRow:
    if fields is not None and fields.global_key is not None:
        key, source = fields.global_key, "import_row"
    elif converted.own_global_key:
        key, source = converted.own_global_key, "row"
    else:
        key, source = payload_hash_key(hashed), "hash"
    metadata = {**converted.metadata, **(fields.metadata if fields else {})}
    return ParsedRow(
        line=line_no,
        row=converted.row,
        global_key=key,
        global_key_source=source,  # type: ignore[arg-type]
        source_format=converted.source_format,
        external_id=(fields.external_id if fields else None) or converted.external_id,
        media_type=(fields.media_type if fields else None) or converted.media_type,
        metadata=metadata,
        attachments=(fields.attachments if fields else []) + converted.attachments,
        original=original,
    )


def _readable_key(value: Any) -> str | None:
    """The global key a refused row claims, when it can be read without validation."""
    if isinstance(value, dict):
        for field in ("global_key", "globalKey"):
            key = value.get(field)
            if isinstance(key, str):
                return key
    return None


def parse_document(raw: bytes, limits: Limits = DEFAULT_LIMITS) -> list[LineResult]:
    """Parse a whole import body held in memory: a JSON array (``line`` = 1-based element
    index) or NDJSON (``line`` = 1-based line number). Duplicate global keys are not
    checked here (see ``reject_duplicate_global_keys``). Large bodies should be streamed
    through :func:`parse_line` / :func:`parse_value` instead."""
    stripped = raw.lstrip().removeprefix(b"\xef\xbb\xbf").lstrip()
    if stripped.startswith(b"["):
        decoded = decode_json(stripped)
        if isinstance(decoded, RowError):
            return [Rejected(line=1, errors=[decoded])]
        return [parse_value(v, i, limits) for i, v in enumerate(decoded.value, start=1)]
    return [parse_line(line, i, limits) for i, line in enumerate(raw.split(b"\n"), start=1)]
