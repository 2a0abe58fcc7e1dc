"""Labelbox import-file rows: inline rows, URL rows, wrapper fields, global keys."""

from __future__ import annotations

import json

from preflog_ingest.domain import (
    Limits,
    NeedsFetch,
    ParsedRow,
    Rejected,
    parse_document,
    parse_fetched,
    parse_value,
)

from .conftest import fixture_bytes, load_fixture


def test_inline_import_file_parses_every_row_with_its_global_key() -> None:
    results = parse_document(fixture_bytes("labelbox/import_file_inline.json"))
    assert all(isinstance(r, ParsedRow) for r in results), results
    rows = [r for r in results if isinstance(r, ParsedRow)]
    assert [(r.line, r.global_key, r.source_format) for r in rows] == [
        (1, "shopping-1", "labelbox_v1"),
        (2, "tulip-1", "labelbox_v1"),
        (3, "recursion-1", "labelbox_v2"),
    ]
    assert all(r.global_key_source == "import_row" for r in rows)
    assert rows[0].media_type == "CONVERSATIONAL"
    assert rows[0].original == load_fixture("labelbox/import_file_inline.json")[0]


def test_url_rows_need_fetching() -> None:
    template = fixture_bytes("labelbox/import_file_urls.template.json")
    body = template.replace(b"${BASE_URL}", b"https://data.example.org")
    results = parse_document(body)
    assert [type(r) for r in results] == [NeedsFetch] * 3
    first = results[0]
    assert isinstance(first, NeedsFetch)
    assert first.url == "https://data.example.org/labelbox/v1_shopping.json"
    assert first.global_key == "shopping-url-1"


def test_loopback_url_is_refused_unless_allowed() -> None:
    row = {"row_data": "http://127.0.0.1:8000/labelbox/v1_shopping.json", "global_key": "k"}
    refused = parse_value(row, 1)
    assert isinstance(refused, Rejected)
    assert (refused.errors[0].code, refused.errors[0].path) == ("BLOCKED_ADDRESS", "row_data")
    assert refused.global_key == "k"
    allowed = parse_value(row, 1, Limits(url_allow_hosts=frozenset({"127.0.0.1"})))
    assert isinstance(allowed, NeedsFetch)


def test_fetched_body_is_parsed_and_merged_with_the_import_row() -> None:
    row = {
        "row_data": "https://data.example.org/v1_shopping.json",
        "global_key": "shopping-url-1",
        "external_id": "ext-9",
        "metadata_fields": [{"name": "split", "value": "train"}, {"schema_id": "s1", "value": 3}],
        "attachments": [{"type": "RAW_TEXT", "value": "note"}],
    }
    pending = parse_value(row, 5)
    assert isinstance(pending, NeedsFetch)
    result = parse_fetched(fixture_bytes("labelbox/v1_shopping.json"), pending)
    assert isinstance(result, ParsedRow), result
    assert result.line == 5
    assert result.global_key == "shopping-url-1"
    assert result.external_id == "ext-9"
    assert result.metadata == {"split": "train", "s1": 3}
    assert result.attachments == [{"type": "RAW_TEXT", "value": "note"}]
    assert result.original["import_row"] == row
    assert result.original["fetched"] == load_fixture("labelbox/v1_shopping.json")
    assert [r.id for r in result.row.prompts[0].responses] == ["response-a", "response-b"]


def test_fetched_body_errors_are_named_under_row_data() -> None:
    pending = parse_value({"row_data": "https://x.example.org/a.json", "global_key": "a"}, 2)
    assert isinstance(pending, NeedsFetch)
    bad_json = parse_fetched(b"<html>not json</html>", pending)
    assert isinstance(bad_json, Rejected)
    assert (bad_json.errors[0].code, bad_json.errors[0].path) == ("INVALID_JSON", "row_data")
    wrong = parse_fetched(fixture_bytes("invalid/content_not_string.json"), pending)
    assert isinstance(wrong, Rejected)
    assert (wrong.errors[0].code, wrong.errors[0].path) == (
        "WRONG_TYPE",
        "row_data.modelOutputs[0].content",
    )


def test_url_row_without_global_key_gets_a_stable_hash_key() -> None:
    row = {"row_data": "https://x.example.org/a.json"}
    first, second = parse_value(row, 1), parse_value(dict(row), 2)
    assert isinstance(first, NeedsFetch) and isinstance(second, NeedsFetch)
    assert first.global_key == second.global_key
    assert first.global_key_source == "hash"


def test_inline_errors_are_prefixed_with_row_data() -> None:
    value = {"row_data": load_fixture("invalid/no_model_outputs.json"), "global_key": "g"}
    result = parse_value(value, 9)
    assert isinstance(result, Rejected)
    assert (result.errors[0].code, result.errors[0].path) == (
        "NO_MODEL_OUTPUTS",
        "row_data.modelOutputs",
    )
    assert result.global_key == "g"


def test_wrapper_field_errors() -> None:
    missing_name = parse_value(
        {"row_data": load_fixture("labelbox/v1_image.json"), "metadata_fields": [{"value": 1}]}, 1
    )
    assert isinstance(missing_name, Rejected)
    assert missing_name.errors[0].path == "metadata_fields[0].name"
    wrong_key = parse_value(
        {"row_data": load_fixture("labelbox/v1_image.json"), "global_key": 7}, 1
    )
    assert isinstance(wrong_key, Rejected)
    assert (wrong_key.errors[0].code, wrong_key.errors[0].path) == ("WRONG_TYPE", "global_key")
    nested = parse_value({"row_data": {"row_data": "https://a.example.org/"}}, 1)
    assert isinstance(nested, Rejected)
    assert nested.errors[0].code == "UNKNOWN_FORMAT"


def test_json_array_document_reports_element_indexes() -> None:
    body = json.dumps([load_fixture("labelbox/v1_image.json"), {"nope": 1}]).encode()
    results = parse_document(body)
    assert isinstance(results[0], ParsedRow)
    assert isinstance(results[1], Rejected) and results[1].line == 2
