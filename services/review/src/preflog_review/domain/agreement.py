"""A task's share of its project's agreement, kept with the task so the project's figures are
a sum over its tasks instead of a recomputation from every label (ADR 0024).

Both halves of the agreement report decompose by task: the consensus means are pair-weighted
over every pair of labels of a task, and alpha's units are (task, question, target). A task's
``TaskAgreement`` is computed when its consensus is (``rescore_task``), from the same counting
labels, and ``project_agreement`` adds them up.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import msgspec

from preflog_contracts.events.labels import LabelSnapshot
from preflog_contracts.events.projects import Question
from preflog_review.domain.consensus import (
    ConsensusSummary,
    PairSums,
    TaskConsensus,
    pair_sums,
    summarize_pair_sums,
)
from preflog_review.domain.question_alpha import (
    QuestionAlpha,
    QuestionPart,
    alphas_from_parts,
    question_parts,
)


class TaskAgreement(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    pairs: PairSums
    questions: dict[str, QuestionPart]


def task_agreement(
    consensus: TaskConsensus, counting: Iterable[LabelSnapshot], questions: Sequence[Question]
) -> TaskAgreement:
    """The task's share, from its consensus and the snapshots of the labels it counted."""
    return TaskAgreement(pairs=pair_sums(consensus), questions=question_parts(counting, questions))


def project_agreement(
    tasks: Sequence[TaskAgreement], questions: Sequence[Question]
) -> tuple[ConsensusSummary, list[QuestionAlpha]]:
    """The project's consensus summary and each question's alpha, from its tasks' shares."""
    return (
        summarize_pair_sums(task.pairs for task in tasks),
        alphas_from_parts((task.questions for task in tasks), questions),
    )


# The rows of the pair sums' components: named so that none is JSON, so none is ever a value
# of a question with the id "".
_COMPONENTS = frozenset({"pairs", "score", "crown_agreement", "kendall_tau", "answer_agreement"})


def share_of_sums(rows: Iterable[tuple[str, str, int, float]]) -> TaskAgreement:
    """The sum of a project's shares, as one share, from its rows of ``agreement_sums``:
    (question id, value, n, total). Question id "" with a component's name holds that
    component of the pair sums; value "" holds a question's units (n) and observed
    disagreement (total); any other value is a comparable value (as JSON) and how often it
    occurs. Rows whose n and total are 0 (shares taken away again) are as if absent."""
    components: dict[str, tuple[int, float]] = {}
    units: dict[str, tuple[int, float]] = {}
    values: dict[str, dict[str, int]] = {}
    for question_id, value, n, total in rows:
        if n == 0 and total == 0:
            continue
        if question_id == "" and value in _COMPONENTS:
            components[value] = (n, total)
        elif value == "":
            units[question_id] = (n, total)
        else:
            values.setdefault(question_id, {})[value] = n
    none = (0, 0.0)
    scored, score = components.get("score", none)
    crowned, crown = components.get("crown_agreement", none)
    ranked, tau = components.get("kendall_tau", none)
    answered, answer = components.get("answer_agreement", none)
    return TaskAgreement(
        pairs=PairSums(
            pairs=components.get("pairs", none)[0],
            score=score,
            scored=scored,
            crown_agreement=crown,
            crowned=crowned,
            kendall_tau=tau,
            ranked=ranked,
            answer_agreement=answer,
            answered=answered,
        ),
        questions={
            question_id: QuestionPart(
                units=units.get(question_id, none)[0],
                observed=units.get(question_id, none)[1],
                values=values.get(question_id, {}),
            )
            for question_id in units.keys() | values.keys()
        },
    )
