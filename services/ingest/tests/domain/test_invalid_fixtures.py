"""Every file in fixtures/invalid is refused with an error naming the row and the field;
mixed_rows.ndjson gives one result per line."""

from __future__ import annotations

import pytest

from preflog_ingest.domain import (
    BlankLine,
    NeedsFetch,
    ParsedRow,
    Rejected,
    parse_line,
    reject_duplicate_global_keys,
)

from .conftest import FIXTURES, fixture_bytes

EXPECTED = {
    "content_not_string.json": ("WRONG_TYPE", "modelOutputs[0].content"),
    "dataloop_bad_mimetype.json": ("UNSUPPORTED_MIMETYPE", "prompts.p1[0].mimetype"),
    "dataloop_no_prompts.json": ("NO_PROMPTS", "prompts"),
    "duplicate_message_id.json": ("DUPLICATE_MESSAGE_ID", "messages[1].messageId"),
    "message_too_long.json": ("MESSAGE_TOO_LONG", "messages[0].content"),
    "missing_message_id.json": ("MISSING_FIELD", "messages[0].messageId"),
    "no_model_outputs.json": ("NO_MODEL_OUTPUTS", "modelOutputs"),
    "not_json.txt": ("INVALID_JSON", ""),
    "too_many_messages.json": ("TOO_MANY_MESSAGES", "messages"),
    "user_missing.json": ("MISSING_FIELD", "messages[0].user"),
    "wrong_type.json": ("WRONG_TYPE", "type"),
    "wrong_version.json": ("WRONG_VERSION", "version"),
}


def test_every_invalid_fixture_has_an_expectation() -> None:
    files = {p.name for p in (FIXTURES / "invalid").iterdir()} - {"mixed_rows.ndjson"}
    assert files == set(EXPECTED)


@pytest.mark.parametrize("name", sorted(EXPECTED))
def test_invalid_fixture_is_refused_naming_the_field(name: str) -> None:
    # Read as one NDJSON line: the file's line number is what a report would show.
    result = parse_line(fixture_bytes(f"invalid/{name}"), 3)
    assert isinstance(result, Rejected), result
    assert result.line == 3
    first = result.errors[0]
    assert (first.code, first.path) == EXPECTED[name]
    assert first.message


def test_mixed_rows_give_one_result_per_line() -> None:
    lines = fixture_bytes("invalid/mixed_rows.ndjson").split(b"\n")
    results = reject_duplicate_global_keys(
        [parse_line(line, i) for i, line in enumerate(lines, start=1)]
    )
    summary: list[tuple[int, str | None, str, str]] = []
    for result in results:
        if isinstance(result, Rejected):
            summary.append(
                (result.line, result.global_key, result.errors[0].code, result.errors[0].path)
            )
        elif isinstance(result, ParsedRow):
            summary.append((result.line, result.global_key, "OK", ""))
        else:
            assert isinstance(result, BlankLine)
    assert summary == [
        (1, "ok-1", "OK", ""),
        (2, None, "INVALID_JSON", ""),
        (3, "bad-version", "WRONG_VERSION", "row_data.version"),
        (4, "ok-2", "OK", ""),
        (5, "ok-1", "DUPLICATE_GLOBAL_KEY", "global_key"),
        (6, "ssrf-1", "BLOCKED_ADDRESS", "row_data"),
        (7, "file-1", "BAD_URL", "row_data"),
    ]
    # No forbidden URL is handed to the fetcher.
    assert not any(isinstance(r, NeedsFetch) for r in results)
