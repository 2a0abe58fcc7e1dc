"""Global keys: hashing and duplicate detection within one import."""

from __future__ import annotations

from preflog_contracts.datarow import DataRow
from preflog_ingest.domain import (
    BlankLine,
    NeedsFetch,
    ParsedRow,
    Rejected,
    SeenGlobalKeys,
    payload_hash_key,
    reject_duplicate_global_keys,
)
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError


def parsed(line: int, key: str) -> ParsedRow:
    return ParsedRow(
        line=line,
        row=DataRow(messages=[], prompts=[]),
        global_key=key,
        global_key_source="import_row",
        source_format="native",
    )


def test_hash_ignores_key_order_but_not_values() -> None:
    assert payload_hash_key({"a": 1, "b": [1, 2]}) == payload_hash_key({"b": [1, 2], "a": 1})
    assert payload_hash_key({"a": 1}) != payload_hash_key({"a": 2})
    assert payload_hash_key({"a": 1}).startswith("sha256:")


def test_first_accepted_row_wins_and_rejected_rows_claim_no_key() -> None:
    bad = Rejected(
        line=1,
        global_key="k",
        errors=[RowError(code=IngestErrorCode.INVALID_JSON, path="", message="x")],
    )
    fetch = NeedsFetch(
        line=3, url="https://x.org/a", global_key="u", global_key_source="import_row"
    )
    results = reject_duplicate_global_keys(
        [bad, parsed(2, "k"), fetch, BlankLine(line=4), parsed(5, "u"), parsed(6, "k")]
    )
    assert results[:4] == [bad, parsed(2, "k"), fetch, BlankLine(line=4)]
    for index, first_line in ((4, 3), (5, 2)):
        result = results[index]
        assert isinstance(result, Rejected)
        assert result.errors[0].code == "DUPLICATE_GLOBAL_KEY"
        assert f"row {first_line}" in result.errors[0].message


def test_streaming_guard_keeps_state_between_calls() -> None:
    seen = SeenGlobalKeys()
    assert isinstance(seen.check(parsed(1, "a")), ParsedRow)
    assert isinstance(seen.check(parsed(2, "b")), ParsedRow)
    assert isinstance(seen.check(parsed(3, "a")), Rejected)
