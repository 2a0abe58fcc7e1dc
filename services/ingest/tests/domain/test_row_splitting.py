"""Splitting a chunked body into rows: the cut points never change the rows found."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflog_ingest.domain import Rejected
from preflog_ingest.domain.row_splitting import (
    BodyError,
    JsonSplitter,
    NdjsonSplitter,
    Piece,
    RowPiece,
    RowSplitter,
    splitter_for,
)

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.text(alphabet=st.characters(), max_size=8),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=5), inner, max_size=4)
    ),
    max_leaves=12,
)


def split(splitter: RowSplitter, body: bytes, cuts: list[int]) -> list[Piece]:
    out: list[Piece] = []
    start = 0
    for cut in [*sorted({c % (len(body) + 1) for c in cuts}), len(body)]:
        out += splitter.feed(body[start:cut])
        start = cut
    return out + splitter.finish()


def decoded(pieces: list[Piece]) -> list[Any]:
    return [json.loads(p.data) for p in pieces if isinstance(p, RowPiece)]


@settings(max_examples=300, deadline=None)
@given(
    st.lists(json_values, max_size=8),
    st.lists(st.integers(0, 10_000), max_size=12),
    st.sampled_from([",", ", ", ",\n  "]),
)
def test_json_array_elements_whatever_the_cuts(
    values: list[Any], cuts: list[int], separator: str
) -> None:
    body = ("[\n" + separator.join(json.dumps(v) for v in values) + "\n]\n").encode()
    pieces = split(JsonSplitter(), body, cuts)
    assert decoded(pieces) == values
    assert [p.line for p in pieces] == list(range(1, len(values) + 1))


@settings(max_examples=300, deadline=None)
@given(st.lists(json_values, max_size=8), st.lists(st.integers(0, 10_000), max_size=12))
def test_ndjson_lines_whatever_the_cuts(values: list[Any], cuts: list[int]) -> None:
    body = "".join(json.dumps(v) + "\n" for v in values).encode()
    pieces = split(NdjsonSplitter(), body, cuts)
    assert decoded(pieces) == values
    assert [p.line for p in pieces] == list(range(1, len(values) + 1))


def test_strings_with_brackets_commas_and_escapes_do_not_split() -> None:
    tricky = ["a,b", "]", "[{", "\\", '"', '\\"],', "ü"]
    body = json.dumps([{"k": t} for t in tricky]).encode()
    for size in (1, 2, 3, 7):
        splitter = JsonSplitter()
        pieces: list[Piece] = []
        for i in range(0, len(body), size):
            pieces += splitter.feed(body[i : i + size])
        pieces += splitter.finish()
        assert decoded(pieces) == [{"k": t} for t in tricky]


def test_bom_blank_lines_and_crlf_in_ndjson() -> None:
    pieces = split(NdjsonSplitter(), b'\xef\xbb\xbf{"a":1}\r\n\r\n{"b":2}', [1, 2, 9])
    assert [(p.line, p.data.strip()) for p in pieces if isinstance(p, RowPiece)] == [
        (1, b'{"a":1}'),
        (2, b""),
        (3, b'{"b":2}'),
    ]


def test_single_object_is_one_row() -> None:
    pieces = split(JsonSplitter(), b'  {\n "a": [1, 2]\n}\n', [3, 5])
    assert decoded(pieces) == [{"a": [1, 2]}]


def test_oversized_rows_are_refused_and_the_rest_kept() -> None:
    big = json.dumps({"x": "y" * 200})
    body = f'[{{"a":1}}, {big}, {{"b":2}}]'.encode()
    pieces = split(JsonSplitter(max_row_bytes=100), body, list(range(0, len(body), 16)))
    assert decoded(pieces) == [{"a": 1}, {"b": 2}]
    [refused] = [p for p in pieces if isinstance(p, Rejected)]
    assert (refused.line, refused.errors[0].code) == (2, "ROW_TOO_LARGE")
    lines = f'{{"a":1}}\n{big}\n{{"b":2}}\n'.encode()
    pieces = split(NdjsonSplitter(max_row_bytes=100), lines, list(range(0, len(lines), 16)))
    assert decoded(pieces) == [{"a": 1}, {"b": 2}]
    assert [p.line for p in pieces if isinstance(p, Rejected)] == [2]


def test_malformed_bodies() -> None:
    with pytest.raises(BodyError, match="array of rows"):
        JsonSplitter().feed(b"  42")
    unterminated = JsonSplitter()
    unterminated.feed(b'[{"a": 1}, {"b"')
    with pytest.raises(BodyError, match="without its closing"):
        unterminated.finish()
    with pytest.raises(BodyError, match="after the closing"):
        split(JsonSplitter(), b"[1] [2]", [])
    trailing = split(JsonSplitter(), b"[1, 2, ]", [])
    assert isinstance(trailing[-1], Rejected) and trailing[-1].line == 3
    assert split(JsonSplitter(), b"[]", []) == []
    with pytest.raises(BodyError, match="not supported"):
        splitter_for("text/csv")
    assert isinstance(splitter_for("application/x-ndjson; charset=utf-8"), NdjsonSplitter)
