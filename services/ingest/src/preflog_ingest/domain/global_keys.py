"""Global keys: where a row's key comes from, and duplicates within one import.

A row's global key is, in order: the import row's ``global_key``; the row's own key
(native ``global_key``, Dataloop item ``id``); else ``sha256:<hex>`` of the payload as
received, encoded as JSON with sorted keys and no whitespace, so the same payload always
gets the same key and re-importing it is recognisably the same row.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from typing import Any

import msgspec

from preflog_ingest.domain.results import LineResult, NeedsFetch, ParsedRow, Rejected
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError


def payload_hash_key(payload: Any) -> str:
    """``sha256:<64 hex>`` of the canonical JSON of a decoded payload."""
    canonical = msgspec.json.encode(payload, order="sorted")
    return "sha256:" + hashlib.sha256(canonical).hexdigest()


class SeenGlobalKeys:
    """Remembers the global keys of one import, for streaming duplicate detection.

    Only rows that were accepted (parsed, or waiting for their URL) claim a key; a
    rejected row does not, so a later good row with the same key still lands.
    """

    def __init__(self) -> None:
        self._lines: dict[str, int] = {}

    def check(self, result: LineResult) -> LineResult:
        """``result`` itself, or a rejection when an earlier accepted row had its key."""
        if not isinstance(result, ParsedRow | NeedsFetch):
            return result
        key = result.global_key
        first = self._lines.get(key)
        if first is None:
            self._lines[key] = result.line
            return result
        return Rejected(
            line=result.line,
            global_key=key,
            errors=[
                RowError(
                    code=IngestErrorCode.DUPLICATE_GLOBAL_KEY,
                    path="global_key",
                    message=f"global key '{key}' is already used by row {first} of this import",
                )
            ],
        )


def reject_duplicate_global_keys(results: Iterable[LineResult]) -> list[LineResult]:
    """The results of one import with every later row that repeats an accepted row's
    global key turned into a DUPLICATE_GLOBAL_KEY rejection (the first one wins)."""
    seen = SeenGlobalKeys()
    return [seen.check(result) for result in results]
