from __future__ import annotations

import math
from typing import Any

from preflog_contracts.events.labels import Answer, LabelSnapshot, Target
from preflog_contracts.events.projects import Question
from preflog_review.domain.question_alpha import question_alphas

_: None = None
# Krippendorff's reliability data (see test_krippendorff.py for the hand computation):
# rows are coders (labels), columns are units (here: tasks).
RELIABILITY_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]
QUESTIONS = [
    Question(id="help", title="Helpfulness", kind="SCALE", scope="RESPONSE", min=1, max=5),
    Question(id="grade", title="Grade", kind="RADIO", scope="RESPONSE"),
    Question(id="issues", title="Issues", kind="CHECKLIST"),
    Question(id="notes", title="Notes", kind="TEXT"),
]


def labels_from(
    question_id: str, as_value: Any, target: Target = Target(response_id="r1")
) -> list[tuple[str, LabelSnapshot]]:
    labels = []
    for coder in RELIABILITY_DATA:
        for unit, value in enumerate(coder):
            if value is not None:
                answer = Answer(question_id=question_id, value=as_value(value), target=target)
                labels.append((f"task-{unit}", LabelSnapshot(answers=[answer])))
    return labels


def by_id(labels: list[tuple[str, LabelSnapshot]]) -> dict[str, Any]:
    return {a.question_id: a for a in question_alphas(labels, QUESTIONS)}


def test_scale_question_uses_interval_alpha() -> None:
    result = by_id(labels_from("help", int))["help"]
    assert result.kind == "SCALE"
    assert result.units == 11 and result.values == 40
    assert math.isclose(result.alpha, 1 - 507 / 3360)  # 0.849


def test_radio_question_uses_nominal_alpha() -> None:
    result = by_id(labels_from("grade", lambda v: f"grade-{v}"))["grade"]
    assert math.isclose(result.alpha, 1 - 312 / 1216)  # 0.743


def test_units_are_per_task_and_target() -> None:
    # The same answers on a second response of each task are separate units: units and values
    # double, D_o stays 13/30, the expected sum quadruples to 4 * 4480 over n(n-1) = 80 * 79.
    labels = labels_from("help", int) + labels_from("help", int, Target(response_id="r2"))
    result = by_id(labels)["help"]
    assert result.units == 22 and result.values == 80
    assert math.isclose(result.expected_disagreement, 4 * 4480 / (80 * 79))
    assert math.isclose(result.alpha, 1 - (13 / 30) / (4 * 4480 / (80 * 79)))


def test_checklist_uses_jaccard_distance() -> None:
    # Two tasks, two labels each. Task 1: {a} vs {a, b} (distance 1/2); task 2: {c} vs {c}.
    # Pooled values: {a}, {a,b}, {c}, {c}; n = 4.
    # D_o = (1/4) * [ (2 * 1/2)/1 + 0 ] = 1/4.
    # Distances: {a}-{a,b} 1/2, {a}-{c} 1, {a,b}-{c} 1 (twice each for the two {c}).
    # D_e = 2 * (1/2 + 1 + 1 + 1 + 1) / (4 * 3) = 9/12 = 3/4.  alpha = 1 - (1/4)/(3/4) = 2/3.
    def label(task: str, value: list[str]) -> tuple[str, LabelSnapshot]:
        return (task, LabelSnapshot(answers=[Answer(question_id="issues", value=value)]))

    labels = [label("t1", ["a"]), label("t1", ["b", "a"]), label("t2", ["c"]), label("t2", ["c"])]
    result = by_id(labels)["issues"]
    assert math.isclose(result.alpha, 2 / 3)


def test_text_excluded_and_unanswered_questions_have_no_alpha() -> None:
    results = by_id(labels_from("help", int))
    assert set(results) == {"help", "grade", "issues"}
    assert results["grade"].alpha is None and results["grade"].units == 0


def test_all_identical_answers_give_none() -> None:
    labels = [
        (task, LabelSnapshot(answers=[Answer(question_id="grade", value="good")]))
        for task in ("t1", "t1", "t2", "t2")
    ]
    result = by_id(labels)["grade"]
    assert result.alpha is None
    assert result.observed_disagreement == 0.0
