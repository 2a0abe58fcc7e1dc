"""What parsing one input row yields: a parsed row, a row that still needs its URL
fetched, a rejection, or nothing (a blank NDJSON line)."""

from __future__ import annotations

from typing import Any, Literal

import msgspec

from preflog_contracts.datarow import DataRow
from preflog_contracts.text import NUL, NUL_REFUSED, nul_path
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError

SourceFormat = Literal["labelbox_v1", "labelbox_v2", "dataloop", "native"]
GlobalKeySource = Literal["import_row", "row", "hash"]


class ParsedRow(msgspec.Struct, frozen=True, kw_only=True):
    """A row ready to become ``DataRowImported``. ``original`` is the payload as received
    (for a fetched row: ``{"import_row": ..., "fetched": ...}``)."""

    line: int
    row: DataRow
    global_key: str
    global_key_source: GlobalKeySource
    source_format: SourceFormat
    external_id: str | None = None
    media_type: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    attachments: list[dict[str, Any]] = msgspec.field(default_factory=list)
    original: Any = None


class NeedsFetch(msgspec.Struct, frozen=True, kw_only=True):
    """An import row whose ``row_data`` is a URL. The URL already passed the static part of
    the URL policy (scheme, literal addresses, metadata names); the fetcher must still call
    :func:`~preflog_ingest.domain.url_policy.check_url` with the resolved addresses, for the
    first request and every redirect, then hand the body to ``parse_fetched``."""

    line: int
    url: str
    global_key: str
    global_key_source: GlobalKeySource
    external_id: str | None = None
    media_type: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    attachments: list[dict[str, Any]] = msgspec.field(default_factory=list)
    original: Any = None


class Rejected(msgspec.Struct, frozen=True, kw_only=True):
    """A refused row; ``errors`` is never empty. ``global_key`` is filled when it could be
    read from the row, so reports can name the row."""

    line: int
    errors: list[RowError]
    global_key: str | None = None


class BlankLine(msgspec.Struct, frozen=True, kw_only=True):
    """An empty NDJSON line: not a row, not an error."""

    line: int


RowResult = ParsedRow | NeedsFetch | Rejected
LineResult = ParsedRow | NeedsFetch | Rejected | BlankLine


class ConvertedRow(msgspec.Struct, frozen=True, kw_only=True):
    """What a format converter yields before import-row fields are merged in."""

    row: DataRow
    source_format: SourceFormat
    own_global_key: str | None = None
    external_id: str | None = None
    media_type: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    attachments: list[dict[str, Any]] = msgspec.field(default_factory=list)


def nul_refusal(
    value: Any, line_no: int, global_key: str | None, root: str = ""
) -> Rejected | None:
    """The row refused where it holds U+0000 (Postgres stores no such text), else None. The
    refusal repeats nothing of the row but a key that is itself storable."""
    where = nul_path(value, root)
    if where is None:
        return None
    error = RowError(code=IngestErrorCode.INVALID_VALUE, path=where, message=f"text {NUL_REFUSED}")
    return Rejected(
        line=line_no,
        errors=[error],
        global_key=global_key if global_key is not None and NUL not in global_key else None,
    )
