"""Decoding JSON input without raising: bad JSON becomes an INVALID_JSON row error."""

from __future__ import annotations

from typing import Any

import msgspec

from preflog_ingest.domain.row_errors import IngestErrorCode, RowError


class JsonValue(msgspec.Struct, frozen=True):
    """A decoded JSON value (wrapped so that a decoded ``null`` is not mistaken for failure)."""

    value: Any


def decode_json(raw: bytes | str) -> JsonValue | RowError:
    """Decode JSON text, or the INVALID_JSON error saying where it is malformed."""
    try:
        return JsonValue(msgspec.json.decode(raw))
    except (msgspec.DecodeError, RecursionError) as exc:
        return RowError(
            code=IngestErrorCode.INVALID_JSON, path="", message=f"not valid JSON: {exc}"
        )
    except UnicodeDecodeError as exc:  # msgspec raises it for a string that is not UTF-8
        return RowError(
            code=IngestErrorCode.INVALID_JSON,
            path="",
            message=f"not valid UTF-8 at byte {exc.start} of a string",
        )
