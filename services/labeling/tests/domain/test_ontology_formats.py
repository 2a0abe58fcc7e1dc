"""Labelbox and Dataloop ontologies become native questions (against the shared fixtures)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from preflog_contracts.errors import Invalid
from preflog_contracts.events.projects import all_questions
from preflog_labeling.domain.ontology import check_questions
from preflog_labeling.domain.ontology_formats import from_dataloop, from_labelbox

FIXTURES = Path(__file__).resolve().parents[4] / "../shared/fixtures"


def test_labelbox_fixture() -> None:
    questions = from_labelbox(json.loads((FIXTURES / "labelbox/ontology.json").read_text()))
    check_questions(questions)
    by_id = {q.id: q for q in questions}
    assert set(by_id) == {"best_response", "issues_in_message", "rationale"}
    assert by_id["best_response"].kind == "RADIO" and by_id["best_response"].scope == "GLOBAL"
    assert [o.value for o in by_id["best_response"].options] == ["Response A", "Response B", "Tie"]
    assert by_id["issues_in_message"].kind == "CHECKLIST" and by_id["issues_in_message"].scope == "MESSAGE"
    assert by_id["rationale"].kind == "TEXT" and not by_id["rationale"].options


def test_labelbox_nested_options_are_follow_ups() -> None:
    source = {
        "classifications": [
            {
                "name": "quality",
                "type": "radio",
                "scope": "global",
                "options": [
                    {
                        "value": "bad",
                        "options": [
                            {"name": "why", "type": "checklist", "options": [{"value": "wrong"}, {"value": "rude"}]}
                        ],
                    },
                    {"value": "good"},
                ],
            }
        ]
    }
    questions = from_labelbox(source)
    follow = questions[0].options[0].follow_ups[0]
    assert follow.id == "why" and follow.kind == "CHECKLIST" and follow.scope == "GLOBAL"
    assert [q.id for q in all_questions(questions)] == ["quality", "why"]


def test_labelbox_message_level_flag() -> None:
    q = from_labelbox({"classifications": [{"name": "x", "type": "text", "messageLevel": True}]})[0]
    assert q.scope == "MESSAGE"


@pytest.mark.parametrize(
    "bad",
    [
        {},
        {"classifications": [{"type": "radio"}]},
        {"classifications": [{"name": "a", "type": "polygon"}]},
        {"classifications": [{"name": "a", "type": "radio", "scope": "everywhere", "options": [{"value": "x"}]}]},
    ],
)
def test_labelbox_refusals_name_the_path(bad: object) -> None:
    with pytest.raises(Invalid) as err:
        from_labelbox(bad)
    assert all(k.startswith("ontology.source") for k in err.value.fields)


def test_dataloop_fixture() -> None:
    questions = from_dataloop(json.loads((FIXTURES / "dataloop/feedback_questions.json").read_text()))
    check_questions(questions)
    by_id = {q.id: q for q in questions}
    helpful = by_id["helpfulness"]
    assert helpful.kind == "SCALE" and (helpful.min, helpful.max, helpful.step) == (1, 5, 1)
    assert helpful.scope == "RESPONSE" and helpful.required
    assert by_id["issues"].kind == "CHECKLIST" and by_id["issues"].options[0].value == "factual error"
    assert by_id["tone"].kind == "RADIO" and not by_id["tone"].required
    assert by_id["safe"].kind == "YES_NO" and by_id["safe"].required
    assert by_id["notes"].kind == "TEXT"


@pytest.mark.parametrize(
    "bad",
    [
        "nope",
        {"attributes": [{"type": "range"}]},
        {"attributes": [{"key": "a", "type": "range", "range": {}}]},
        {"attributes": [{"key": "a", "type": "options", "values": []}]},
        {"attributes": [{"key": "a", "type": "sketch"}]},
    ],
)
def test_dataloop_refusals(bad: object) -> None:
    with pytest.raises(Invalid):
        from_dataloop(bad)
