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
