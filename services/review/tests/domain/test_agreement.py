"""The agreement report from the tasks' shares equals its recomputation from every label."""

from __future__ import annotations

import random
from collections import defaultdict
from collections.abc import Hashable
from functools import partial

import pytest

from preflog_contracts.events.labels import Answer, Crown, LabelSnapshot, RankEntry, Ranking, Target
from preflog_contracts.events.projects import Option, Question
from preflog_review.domain.agreement import project_agreement, task_agreement
from preflog_review.domain.answer_measures import answer_distance, comparable_questions
from preflog_review.domain.consensus import summarize_consensus, task_consensus
from preflog_review.domain.krippendorff import krippendorff_alpha
from preflog_review.domain.label_agreement import comparable_answers

QUESTIONS = [
    Question(
        id="overall",
        title="Overall",
        kind="RADIO",
        options=[
            Option(value="a"),
            Option(
                value="b",
                follow_ups=[Question(id="why", title="Why", kind="CHECKLIST", options=[])],
            ),
            Option(value="tie"),
        ],
    ),
    Question(id="helpful", title="Helpful", kind="SCALE", scope="RESPONSE", min=1, max=5),
    Question(id="safe", title="Safe", kind="YES_NO"),
    Question(id="notes", title="Notes", kind="TEXT"),
]
RESPONSES = ["r1", "r2", "r3"]


def a_label(rnd: random.Random) -> LabelSnapshot:
    answers = []
    if rnd.random() < 0.9:
        answers.append(Answer(question_id="overall", value=rnd.choice(["a", "b", "tie"])))
    if rnd.random() < 0.5:
        reasons = rnd.sample(["long", "wrong", "rude"], rnd.randint(0, 3))
        answers.append(Answer(question_id="why", value=reasons))
    for response in RESPONSES:
        if rnd.random() < 0.8:
            value: object = rnd.randint(1, 5) if rnd.random() < 0.95 else "five"  # malformed
            answers.append(
                Answer(question_id="helpful", value=value, target=Target(response_id=response))
            )
    if rnd.random() < 0.7:
        answers.append(Answer(question_id="safe", value=rnd.random() < 0.8))
    answers.append(Answer(question_id="notes", value="free text"))
    order = rnd.sample(RESPONSES, len(RESPONSES))
    return LabelSnapshot(
        rankings=[
            Ranking(prompt_id="p", ranking=[RankEntry(r, i + 1) for i, r in enumerate(order)])
        ]
        if rnd.random() < 0.9
        else [],
        crowns=[Crown(prompt_id="p", response_id=rnd.choice(RESPONSES))]
        if rnd.random() < 0.8
        else [],
        answers=answers,
    )


@pytest.mark.parametrize("seed", range(5))
def test_the_report_from_task_shares_equals_the_recomputation_from_every_label(seed: int) -> None:
    rnd = random.Random(seed)
    tasks = {
        f"task-{i}": {f"label-{i}-{j}": a_label(rnd) for j in range(rnd.randint(0, 4))}
        for i in range(60)
    }
    consensus = {task_id: task_consensus(labels, QUESTIONS) for task_id, labels in tasks.items()}
    shares = [
        task_agreement(consensus[t], labels.values(), QUESTIONS)
        for t, labels in tasks.items()
        if labels
    ]
    summary, alphas = project_agreement(shares, QUESTIONS)

    # Recomputed as the report once was: every pair of every task, every unit of the project.
    expected = summarize_consensus(consensus[t] for t, labels in tasks.items() if labels)
    assert summary.pairs == expected.pairs
    for field in ("score", "crown_agreement", "kendall_tau", "answer_agreement"):
        assert getattr(summary, field) == pytest.approx(getattr(expected, field), rel=1e-12)
    by_id = comparable_questions(QUESTIONS)
    units: dict[str, dict[tuple[str, str | None, str | None], list[Hashable]]] = {
        q: defaultdict(list) for q in by_id
    }
    for task_id, labels in tasks.items():
        for snapshot in labels.values():
            for (question_id, message_id, response_id), (_, value) in comparable_answers(
                snapshot, by_id
            ).items():
                units[question_id][(task_id, message_id, response_id)].append(value)
    assert [a.question_id for a in alphas] == list(by_id)
    for alpha in alphas:
        question = by_id[alpha.question_id]
        full = krippendorff_alpha(
            list(units[alpha.question_id].values()), partial(answer_distance, question.kind)
        )
        assert (alpha.units, alpha.values) == (full.units, full.values)
        if full.alpha is None:
            assert alpha.alpha is None
        else:
            assert alpha.alpha == pytest.approx(full.alpha, rel=1e-12, abs=1e-12)
        assert alpha.observed_disagreement == pytest.approx(full.observed_disagreement, rel=1e-12)
        assert alpha.expected_disagreement == pytest.approx(full.expected_disagreement, rel=1e-12)
    # Every comparable question has units here, so none of the checks above was vacuous.
    assert all(a.units > 0 and a.alpha is not None for a in alphas)


def test_a_question_removed_from_the_ontology_is_left_out() -> None:
    label = LabelSnapshot(answers=[Answer(question_id="safe", value=True)])
    other = LabelSnapshot(answers=[Answer(question_id="safe", value=False)])
    share = task_agreement(
        task_consensus({"a": label, "b": other}, QUESTIONS), [label, other], QUESTIONS
    )
    assert set(share.questions) == {"safe"}
    _, alphas = project_agreement([share], [q for q in QUESTIONS if q.id != "safe"])
    assert "safe" not in {a.question_id for a in alphas}
