"""Arbitrary input never makes the parsers raise: it parses or is refused with errors."""

from __future__ import annotations

import json
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from preflog_ingest.domain import (
    BlankLine,
    MalLine,
    NeedsFetch,
    ParsedRow,
    Rejected,
    parse_line,
    parse_prelabel_value,
    parse_value,
)

from .conftest import load_fixture

scalars = (
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=20)
)
json_values = st.recursive(
    scalars,
    lambda children: (
        st.lists(children, max_size=5) | st.dictionaries(st.text(max_size=12), children, max_size=5)
    ),
    max_leaves=30,
)

# Keys the formats look at, so the fuzzer reaches past format detection.
KNOWN_KEYS = [
    "type",
    "version",
    "messages",
    "modelOutputs",
    "row_data",
    "global_key",
    "shebang",
    "metadata",
    "prompts",
    "actors",
    "rootMessageIds",
    "responses",
    "annotations",
    "messageId",
    "content",
    "user",
    "title",
    "childMessageIds",
    "actorId",
    "dltype",
    "mimetype",
    "value",
    "metadata_fields",
    "attachments",
    "dataRow",
    "answer",
    "name",
]
KNOWN_STRINGS = [
    "application/vnd.labelbox.conversational",
    "application/vnd.labelbox.conversational.model-chat-evaluation",
    "application/vnd.preflog.datarow",
    "dataloop",
    "prompt",
    "http://169.254.169.254/",
    "https://example.org/a.json",
    "<img src='https://x.org/a.png'>",
]
shaped = st.recursive(
    scalars | st.sampled_from(KNOWN_STRINGS) | st.sampled_from([1, 2]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.dictionaries(st.sampled_from(KNOWN_KEYS) | st.text(max_size=5), children, max_size=6)
    ),
    max_leaves=40,
)

OUTCOMES = (ParsedRow, NeedsFetch, Rejected)


def assert_outcome(result: Any) -> None:
    assert isinstance(result, OUTCOMES)
    if isinstance(result, Rejected):
        assert result.errors
        assert all(e.code and e.message for e in result.errors)


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(json_values)
def test_arbitrary_json_values(value: Any) -> None:
    assert_outcome(parse_value(value, 1))


@settings(max_examples=600, suppress_health_check=[HealthCheck.too_slow])
@given(shaped)
def test_format_shaped_values(value: Any) -> None:
    assert_outcome(parse_value(value, 1))


def mutations(base: Any) -> st.SearchStrategy[Any]:
    """A fixture with one nested value replaced by something arbitrary."""
    paths: list[list[Any]] = []

    def walk(node: Any, path: list[Any]) -> None:
        paths.append(path)
        if isinstance(node, dict):
            for key, child in node.items():
                walk(child, [*path, key])
        elif isinstance(node, list):
            for index, child in enumerate(node):
                walk(child, [*path, index])

    walk(base, [])

    def replace(path: list[Any], new: Any) -> Any:
        copy = json.loads(json.dumps(base))
        if not path:
            return new
        node = copy
        for step in path[:-1]:
            node = node[step]
        node[path[-1]] = new
        return copy

    return st.builds(replace, st.sampled_from(paths), shaped)


FIXTURES = [
    "labelbox/v1_shopping.json",
    "labelbox/v2_model_chat.json",
    "dataloop/prompt_item_two_prompts.json",
    "labelbox/import_file_inline.json",
]


@settings(max_examples=800, suppress_health_check=[HealthCheck.too_slow])
@given(st.sampled_from(FIXTURES).flatmap(lambda name: mutations(load_fixture(name))))
def test_mutated_fixtures(value: Any) -> None:
    rows = value if isinstance(value, list) else [value]
    for row in rows:
        assert_outcome(parse_value(row, 1))


def test_a_line_whose_string_is_not_utf8_is_refused_by_its_line() -> None:
    """msgspec raises Python's UnicodeDecodeError for it (not its DecodeError): it escaped
    the parser instead of refusing the one line."""
    result = parse_line(b'{"global_key": "k", "row_data": "\x80"}', 4)
    assert isinstance(result, Rejected) and result.line == 4
    assert (result.errors[0].code, "UTF-8" in result.errors[0].message) == ("INVALID_JSON", True)


@settings(max_examples=300)
@given(st.binary(max_size=200))
def test_arbitrary_bytes_as_a_line(raw: bytes) -> None:
    result = parse_line(raw, 1)
    assert isinstance(result, (*OUTCOMES, BlankLine))


@settings(max_examples=400)
@given(shaped)
def test_arbitrary_prelabel_values(value: Any) -> None:
    assert isinstance(parse_prelabel_value(value, 1), MalLine | Rejected)
