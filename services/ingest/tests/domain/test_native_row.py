"""Our own NDJSON row form, its JSON Schema and example in proto/ingest/."""

from __future__ import annotations

import json
from typing import Any

import jsonschema

from preflog_ingest.domain import ParsedRow, Rejected, native_row_schema, parse_line, parse_value

from .conftest import REPO_ROOT

SCHEMA_FILE = REPO_ROOT / "proto/ingest/native_row.schema.json"
EXAMPLE_FILE = REPO_ROOT / "proto/ingest/native_row.example.json"


def example() -> dict[str, Any]:
    value: dict[str, Any] = json.loads(EXAMPLE_FILE.read_text())
    return value


def test_schema_file_matches_the_struct() -> None:
    assert json.loads(SCHEMA_FILE.read_text()) == native_row_schema()


def test_example_validates_against_the_schema_and_parses() -> None:
    jsonschema.validate(example(), json.loads(SCHEMA_FILE.read_text()))
    result = parse_line(EXAMPLE_FILE.read_bytes(), 1)
    assert isinstance(result, ParsedRow), result
    assert result.source_format == "native"
    assert result.global_key == "support-chat-0001"
    assert result.metadata == {"source": "support-logs", "language": "en"}
    assert [r.id for r in result.row.prompts[0].responses] == ["r-alpha", "r-beta"]


def first_error(value: dict[str, Any]) -> tuple[str, str]:
    result = parse_value(value, 1)
    assert isinstance(result, Rejected), result
    return result.errors[0].code, result.errors[0].path


def test_unknown_field_is_refused() -> None:
    assert first_error(example() | {"colour": "red"}) == ("UNKNOWN_FIELD", "colour")


def test_prompt_after_unknown_message_is_refused() -> None:
    value = example()
    value["prompts"][0]["after_message_id"] = "m9"
    assert first_error(value) == ("UNKNOWN_MESSAGE", "prompts[0].after_message_id")


def test_duplicate_response_ids_are_refused() -> None:
    value = example()
    value["prompts"][0]["responses"][1]["id"] = "r-alpha"
    assert first_error(value) == ("DUPLICATE_RESPONSE_ID", "prompts[0].responses[1].id")


def test_bad_role_is_named() -> None:
    value = example()
    value["messages"][1]["role"] = "robot"
    assert first_error(value) == ("INVALID_VALUE", "messages[1].role")


def test_wrong_version() -> None:
    assert first_error(example() | {"version": 2}) == ("WRONG_VERSION", "version")
