"""Labelbox MAL pre-labels mapped onto the ontology and the target data row."""

from __future__ import annotations

import json
from typing import Any

import pytest

from preflog_contracts.datarow import DataRow
from preflog_contracts.events.catalog import PreLabel
from preflog_contracts.events.projects import Option, Question
from preflog_ingest.domain import (
    MalLine,
    ParsedRow,
    Rejected,
    map_prelabel,
    parse_document,
    parse_prelabel_line,
    parse_prelabel_value,
)

from .conftest import fixture_bytes, load_fixture

_KINDS = {"radio": "RADIO", "checklist": "CHECKLIST", "text": "TEXT"}
_SCOPES = {"global": "GLOBAL", "index": "MESSAGE"}


def questions_from(ontology: dict[str, Any]) -> list[Question]:
    """The ontology as an imported Labelbox ontology keeps it (ids = names, values kept)."""
    return [
        Question(
            id=c["name"],
            title=c["name"],
            kind=_KINDS[c["type"]],
            scope=_SCOPES[c["scope"]],
            options=[Option(value=o["value"]) for o in c.get("options", [])],
        )
        for c in ontology["classifications"]
    ]


QUESTIONS = questions_from(load_fixture("labelbox/ontology.json"))


def rows_by_key() -> dict[str, DataRow]:
    results = parse_document(fixture_bytes("labelbox/import_file_inline.json"))
    return {r.global_key: r.row for r in results if isinstance(r, ParsedRow)}


ROWS = rows_by_key()
LINES = fixture_bytes("labelbox/prelabels.ndjson").splitlines()


def mapped(line_no: int, questions: list[Question] = QUESTIONS) -> list[PreLabel] | Rejected:
    line = parse_prelabel_line(LINES[line_no - 1], line_no)
    assert isinstance(line, MalLine), line
    assert line.data_row.global_key is not None
    return map_prelabel(line, questions, ROWS[line.data_row.global_key], line_no)


def test_global_radio() -> None:
    assert mapped(1) == [
        PreLabel(
            kind="answer",
            question_id="best_response",
            value="Response B",
            source_id="9b1e0d3e-0000-4000-8000-000000000001",
        )
    ]


def test_checklist_on_a_message() -> None:
    [prelabel] = mapped(2)  # type: ignore[misc]
    assert (prelabel.kind, prelabel.question_id, prelabel.value, prelabel.message_id) == (
        "answer",
        "issues_in_message",
        ["too_vague", "no_budget_check"],
        "message-2",
    )


def test_free_text() -> None:
    [prelabel] = mapped(3)  # type: ignore[misc]
    assert (prelabel.question_id, prelabel.value) == (
        "rationale",
        "B respects the budget and answers directly.",
    )


def test_radio_option_outside_the_ontology_is_refused() -> None:
    result = mapped(4)
    assert isinstance(result, Rejected)
    assert result.global_key == "tulip-1"
    assert [(e.code, e.path) for e in result.errors] == [("UNKNOWN_OPTION", "answer.name")]


def test_radio_confidence_is_kept() -> None:
    with_images = [
        Question(
            id="best_response",
            title="Best",
            kind="RADIO",
            options=[Option(value="Image 1"), Option(value="Image 2")],
        )
    ]
    [prelabel] = mapped(4, with_images)  # type: ignore[misc]
    assert (prelabel.value, prelabel.confidence) == ("Image 2", 0.7)


def test_message_ranking_on_a_v2_tree() -> None:
    [prelabel] = mapped(5)  # type: ignore[misc]
    assert prelabel.kind == "ranking"
    assert prelabel.prompt_id == "prompt-m1"
    assert prelabel.ranking == [("m3", 1), ("m2", 2), ("m4", 3)]


def line_for(row_key: str, **fields: Any) -> MalLine:
    value = {"uuid": "u-1", "dataRow": {"globalKey": row_key}, **fields}
    line = parse_prelabel_value(value, 1)
    assert isinstance(line, MalLine), line
    return line


def errors(result: list[PreLabel] | Rejected) -> list[tuple[str, str]]:
    assert isinstance(result, Rejected), result
    return [(e.code, e.path) for e in result.errors]


def test_checklist_accepts_the_answers_key() -> None:
    line = line_for(
        "shopping-1", name="issues_in_message", answers=[{"name": "unsafe"}], messageId="message-0"
    )
    [prelabel] = map_prelabel(line, QUESTIONS, ROWS["shopping-1"], 1)  # type: ignore[misc]
    assert prelabel.value == ["unsafe"]


@pytest.mark.parametrize(
    ("fields", "expected"),
    [
        ({"name": "nope", "answer": "x"}, [("UNKNOWN_QUESTION", "name")]),
        ({"name": "rationale", "answer": {"name": "Tie"}}, [("WRONG_KIND", "answer")]),
        ({"name": "best_response", "answer": [{"name": "Tie"}]}, [("WRONG_KIND", "answer")]),
        ({"name": "best_response", "answer": "Tie"}, [("WRONG_KIND", "answer")]),
        (
            {"name": "issues_in_message", "answer": [{"name": "rude"}], "messageId": "message-1"},
            [("UNKNOWN_OPTION", "answer[0].name")],
        ),
        (
            {
                "name": "issues_in_message",
                "answer": [{"name": "unsafe"}, {"name": "unsafe"}],
                "messageId": "message-1",
            },
            [("DUPLICATE_OPTION", "answer[1].name")],
        ),
        (
            {"name": "issues_in_message", "answer": [{"name": "unsafe"}], "messageId": "message-9"},
            [("UNKNOWN_MESSAGE", "messageId")],
        ),
        (
            {"name": "issues_in_message", "answer": [{"name": "unsafe"}]},
            [("WRONG_SCOPE", "messageId")],
        ),
        (
            {"name": "rationale", "answer": "why", "messageId": "message-1"},
            [("WRONG_SCOPE", "messageId")],
        ),
        (
            {"name": "best_response", "answer": {"name": "Tie"}, "confidence": 1.5},
            [("INVALID_VALUE", "confidence")],
        ),
    ],
)
def test_answers_that_do_not_fit_are_refused(fields: dict[str, Any], expected: list[Any]) -> None:
    line = line_for("shopping-1", **fields)
    assert errors(map_prelabel(line, QUESTIONS, ROWS["shopping-1"], 1)) == expected


NESTED = [
    Question(
        id="quality",
        title="Quality",
        kind="RADIO",
        scope="RESPONSE",
        options=[
            Option(
                value="bad",
                follow_ups=[
                    Question(
                        id="why_bad",
                        title="Why?",
                        kind="CHECKLIST",
                        options=[Option(value="wrong"), Option(value="rude")],
                    )
                ],
            ),
            Option(value="good"),
        ],
    )
]


def test_nested_classification_on_a_response_named_by_title() -> None:
    line = line_for(
        "shopping-1",
        name="quality",
        messageId="Response A",
        answer={
            "name": "bad",
            "classifications": [{"name": "why_bad", "answer": [{"name": "rude"}]}],
        },
    )
    result = map_prelabel(line, NESTED, ROWS["shopping-1"], 1)
    assert isinstance(result, list)
    assert [(p.question_id, p.value, p.response_id, p.prompt_id) for p in result] == [
        ("quality", "bad", "response-a", "prompt-message-3"),
        ("why_bad", ["rude"], "response-a", "prompt-message-3"),
    ]


def test_nested_classification_must_be_a_follow_up_of_the_option() -> None:
    line = line_for(
        "shopping-1",
        name="quality",
        messageId="response-b",
        answer={"name": "good", "classifications": [{"name": "why_bad", "answer": []}]},
    )
    assert errors(map_prelabel(line, NESTED, ROWS["shopping-1"], 1)) == [
        ("UNKNOWN_QUESTION", "answer.classifications[0].name")
    ]


def test_response_scope_refuses_a_message() -> None:
    line = line_for("shopping-1", name="quality", messageId="message-1", answer={"name": "good"})
    assert errors(map_prelabel(line, NESTED, ROWS["shopping-1"], 1)) == [
        ("WRONG_SCOPE", "messageId")
    ]


def evaluation(fmt: str, data: dict[str, Any], name: str = "eval") -> list[PreLabel] | Rejected:
    line = line_for("recursion-1", name=name, messageEvaluationTask={"format": fmt, "data": data})
    return map_prelabel(line, QUESTIONS, ROWS["recursion-1"], 1)


def test_single_selection_is_a_crown() -> None:
    result = evaluation(
        "message-single-selection",
        {"parentMessageId": "m5", "messageId": "m7", "modelConfigName": "model-beta"},
    )
    assert isinstance(result, list)
    assert [(p.kind, p.prompt_id, p.response_id) for p in result] == [("crown", "prompt-m5", "m7")]


def test_multi_selection() -> None:
    result = evaluation(
        "message-multi-selection",
        {"parentMessageId": "m1", "selectedMessages": [{"messageId": "m2"}, {"messageId": "m4"}]},
    )
    assert isinstance(result, list)
    assert [(p.kind, p.question_id, p.prompt_id, p.value) for p in result] == [
        ("selection", "eval", "prompt-m1", ["m2", "m4"])
    ]


@pytest.mark.parametrize(
    ("fmt", "data", "expected"),
    [
        (
            "message-ranking",
            {"parentMessageId": "m2", "rankedMessages": []},
            [("UNKNOWN_MESSAGE", "messageEvaluationTask.data.parentMessageId")],
        ),
        (
            "message-ranking",
            {"parentMessageId": "m1", "rankedMessages": [{"messageId": "m6", "order": 1}]},
            [("UNKNOWN_RESPONSE", "messageEvaluationTask.data.rankedMessages[0].messageId")],
        ),
        (
            "message-ranking",
            {
                "parentMessageId": "m1",
                "rankedMessages": [
                    {"messageId": "m2", "order": 1},
                    {"messageId": "m3", "order": 3},
                ],
            },
            [("INVALID_RANKING", "messageEvaluationTask.data.rankedMessages")],
        ),
        (
            "message-single-selection",
            {"parentMessageId": "m1"},
            [("MISSING_FIELD", "messageEvaluationTask.data.messageId")],
        ),
    ],
)
def test_evaluation_tasks_that_do_not_fit(
    fmt: str, data: dict[str, Any], expected: list[Any]
) -> None:
    assert errors(evaluation(fmt, data)) == expected


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        (b"{nope", [("INVALID_JSON", "")]),
        (b'{"name": "\xff"}', [("INVALID_JSON", "")]),  # a string that is not UTF-8
        (b'{"name": "x", "answer": "y"}', [("MISSING_FIELD", "dataRow")]),
        (b'{"dataRow": {}, "name": "x", "answer": "y"}', [("MISSING_FIELD", "dataRow")]),
        (b'{"dataRow": {"globalKey": "k"}, "answer": "y"}', [("MISSING_FIELD", "name")]),
        (b'{"dataRow": {"globalKey": "k"}, "name": "x"}', [("MISSING_FIELD", "answer")]),
        (
            b'{"dataRow": {"globalKey": "k"}, '
            b'"messageEvaluationTask": {"format": "f", "data": {}}}',
            [("INVALID_VALUE", "messageEvaluationTask.format")],
        ),
        (b'{"dataRow": {"globalKey": "k"}, "name": "x", "answer": 5}', [("WRONG_TYPE", "answer")]),
    ],
)
def test_malformed_lines_are_refused(raw: bytes, expected: list[Any]) -> None:
    result = parse_prelabel_line(raw, 4)
    assert isinstance(result, Rejected)
    assert result.line == 4
    assert [(e.code, e.path) for e in result.errors] == expected


def test_fixture_lines_all_decode() -> None:
    for i, raw in enumerate(LINES, start=1):
        assert isinstance(parse_prelabel_line(raw, i), MalLine), json.loads(raw)
