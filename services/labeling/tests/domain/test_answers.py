"""Answer kinds and the ontology's own checks."""

from __future__ import annotations

from typing import Any

import pytest

from preflog_contracts.errors import Invalid
from preflog_contracts.events.projects import Option, Question
from preflog_labeling.domain.ontology import check_answer, check_questions

RADIO = Question(id="r", title="r", kind="RADIO", options=[Option(value="a"), Option(value="b")])
CHECK = Question(id="c", title="c", kind="CHECKLIST", options=[Option(value="a"), Option(value="b")])
TEXT = Question(id="t", title="t", kind="TEXT")
SCALE = Question(id="s", title="s", kind="SCALE", min=1, max=5, step=0.5)
YES = Question(id="y", title="y", kind="YES_NO")


@pytest.mark.parametrize(
    ("q", "value"),
    [
        (RADIO, "a"),
        (CHECK, []),
        (CHECK, ["a", "b"]),
        (TEXT, ""),
        (TEXT, "why"),
        (SCALE, 1),
        (SCALE, 4.5),
        (SCALE, 5),
        (YES, True),
        (YES, False),
    ],
)
def test_accepted(q: Question, value: Any) -> None:
    assert check_answer(q, value) == value


@pytest.mark.parametrize(
    ("q", "value"),
    [
        (RADIO, "c"),
        (RADIO, ["a"]),
        (RADIO, 1),
        (CHECK, "a"),
        (CHECK, ["a", "a"]),
        (CHECK, ["z"]),
        (CHECK, [1]),
        (TEXT, 3),
        (TEXT, "x" * 10_001),
        (SCALE, 0),
        (SCALE, 5.5),
        (SCALE, 1.25),
        (SCALE, True),
        (SCALE, "3"),
        (SCALE, float("nan")),
        (YES, "yes"),
        (YES, 1),
        (YES, None),
    ],
)
def test_refused(q: Question, value: Any) -> None:
    with pytest.raises(Invalid) as err:
        check_answer(q, value)
    assert err.value.fields


@pytest.mark.parametrize(
    "questions",
    [
        [RADIO, RADIO],
        [Question(id="x", title="x", kind="RADIO")],
        [Question(id="x", title="x", kind="DRAW")],
        [Question(id="x", title="x", kind="TEXT", scope="PIXEL")],
        [Question(id="x", title="x", kind="SCALE", min=3, max=1)],
        [Question(id="x", title="x", kind="TEXT", options=[Option(value="a")])],
        [
            Question(
                id="x", title="x", kind="RADIO", options=[Option(value="a", follow_ups=[RADIO]), Option(value="b")]
            ),
            RADIO,
        ],
    ],
)
def test_bad_ontologies(questions: list[Question]) -> None:
    with pytest.raises(Invalid):
        check_questions(questions)
