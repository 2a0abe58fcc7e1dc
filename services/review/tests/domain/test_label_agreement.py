from __future__ import annotations

import math
from typing import Any

from preflog_contracts.events.labels import (
    Answer,
    Crown,
    EditedResponse,
    LabelSnapshot,
    RankEntry,
    Ranking,
    Target,
)
from preflog_contracts.events.projects import Option, Question
from preflog_review.domain.label_agreement import benchmark_score, compare_labels

QUESTIONS = [
    Question(
        id="tone",
        title="Tone",
        kind="RADIO",
        options=[
            Option(value="formal"),
            Option(
                value="casual",
                follow_ups=[Question(id="slang", title="Slang?", kind="YES_NO")],
            ),
        ],
    ),
    Question(id="issues", title="Issues", kind="CHECKLIST", scope="RESPONSE"),
    Question(id="help", title="Helpfulness", kind="SCALE", scope="RESPONSE", min=1, max=5),
    Question(id="unbounded", title="No range", kind="SCALE"),
    Question(id="notes", title="Notes", kind="TEXT"),
]


def answer(question_id: str, value: Any, response_id: str | None = None) -> Answer:
    return Answer(question_id=question_id, value=value, target=Target(response_id=response_id))


def ranking(prompt_id: str, **ranks: int) -> Ranking:
    return Ranking(prompt_id=prompt_id, ranking=[RankEntry(r, k) for r, k in ranks.items()])


def test_crown_agreement_over_prompts_both_crowned() -> None:
    a = LabelSnapshot(
        crowns=[
            Crown(prompt_id="p1", response_id="r1"),
            Crown(prompt_id="p2", response_id="r4"),
            Crown(prompt_id="p3", response_id="r7"),
        ]
    )
    b = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id="r1"), Crown(prompt_id="p2", response_id="r5")]
    )
    result = compare_labels(a, b, QUESTIONS)
    # p1 same, p2 different, p3 crowned only by a (not compared).
    assert result.crown_agreement == 0.5
    assert result.crowned_prompts == 2
    assert result.score == 0.5


def test_later_crown_replaces_earlier() -> None:
    a = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id="r2"), Crown(prompt_id="p1", response_id="r1")]
    )
    b = LabelSnapshot(crowns=[Crown(prompt_id="p1", response_id="r1")])
    assert compare_labels(a, b, QUESTIONS).crown_agreement == 1.0


def test_ranking_tau_is_averaged_over_prompts_and_mapped() -> None:
    a = LabelSnapshot(rankings=[ranking("p1", r1=1, r2=2, r3=3), ranking("p2", r4=1, r5=2)])
    b = LabelSnapshot(rankings=[ranking("p1", r1=1, r2=3, r3=2), ranking("p2", r4=2, r5=1)])
    result = compare_labels(a, b, QUESTIONS)
    # p1: C=2 (r1r2, r1r3), D=1 (r2r3) -> tau 1/3; p2: reversed -> -1. Mean -1/3.
    assert result.kendall_tau is not None
    assert math.isclose(result.kendall_tau, -1 / 3)
    assert result.ranked_prompts == 2
    assert math.isclose(result.ranking_agreement or 0, (1 - 1 / 3) / 2)


def test_responses_a_label_deleted_leave_its_ranking() -> None:
    deleted = EditedResponse(response_id="r3", content=[], deleted=True)
    a = LabelSnapshot(rankings=[ranking("p1", r1=1, r2=2, r3=3)], responses=[deleted])
    b = LabelSnapshot(rankings=[ranking("p1", r1=1, r2=2, r3=0)])
    # Without r3 the two agree completely.
    assert compare_labels(a, b, QUESTIONS).kendall_tau == 1.0


def test_answers_by_kind() -> None:
    a = LabelSnapshot(
        answers=[
            answer("tone", "casual"),
            answer("slang", True),
            answer("issues", ["vague", "wrong"], "r1"),
            answer("help", 4, "r1"),
            answer("help", 2, "r2"),
            answer("notes", "fine"),
            answer("unbounded", 7),
            answer("not-in-ontology", "x"),
        ]
    )
    b = LabelSnapshot(
        answers=[
            answer("tone", "casual"),
            answer("slang", False),
            answer("issues", ["wrong", "unsafe"], "r1"),
            answer("help", 5, "r1"),
            answer("help", 2, "r3"),  # other target: not the same unit
            answer("notes", "also fine"),
            answer("unbounded", 7),
            answer("not-in-ontology", "x"),
        ]
    )
    result = compare_labels(a, b, QUESTIONS)
    got = {(i.question_id, i.target.response_id): i.agreement for i in result.answers}
    assert got == {
        ("tone", None): 1.0,
        ("slang", None): 0.0,  # a follow-up question is found too
        ("issues", "r1"): 1 / 3,  # {wrong} / {vague, wrong, unsafe}
        ("help", "r1"): 1 - 1 / 4,  # 1 - |4-5| / (5-1)
    }
    assert math.isclose(result.answer_agreement or 0, (1 + 0 + 1 / 3 + 0.75) / 4)
    assert result.score == result.answer_agreement


def test_empty_checklists_agree_and_malformed_answers_are_skipped() -> None:
    a = LabelSnapshot(answers=[answer("issues", [], "r1"), answer("tone", 3)])
    b = LabelSnapshot(answers=[answer("issues", [], "r1"), answer("tone", "formal")])
    result = compare_labels(a, b, QUESTIONS)
    assert [(i.question_id, i.agreement) for i in result.answers] == [("issues", 1.0)]


def test_score_is_mean_of_defined_components() -> None:
    a = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id="r1")],
        rankings=[ranking("p1", r1=1, r2=2, r3=3)],
        answers=[answer("tone", "formal")],
    )
    b = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id="r2")],
        rankings=[ranking("p1", r1=1, r2=2, r3=3)],
        answers=[answer("tone", "formal")],
    )
    result = compare_labels(a, b, QUESTIONS)
    assert (result.crown_agreement, result.ranking_agreement, result.answer_agreement) == (
        0.0,
        1.0,
        1.0,
    )
    assert math.isclose(result.score or 0, 2 / 3)
    assert compare_labels(b, a, QUESTIONS) == result


def test_nothing_in_common_has_no_score() -> None:
    result = compare_labels(LabelSnapshot(), LabelSnapshot(), QUESTIONS)
    assert result.score is None
    assert result.answers == []


def test_benchmark_is_agreement_with_reference() -> None:
    reference = LabelSnapshot(crowns=[Crown(prompt_id="p1", response_id="r1")])
    label = LabelSnapshot(crowns=[Crown(prompt_id="p1", response_id="r1")])
    assert benchmark_score(label, reference, QUESTIONS).score == 1.0
