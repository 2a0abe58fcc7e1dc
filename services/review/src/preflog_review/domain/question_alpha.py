"""Krippendorff's alpha per question across a project.

Units are (task, question, target): every label of a task that answered the question on the
same target contributes one value. RADIO and YES_NO use the nominal difference, SCALE the
interval difference, CHECKLIST the Jaccard distance; TEXT questions get no alpha.
See ``krippendorff`` for when alpha is None.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Hashable, Iterable, Sequence
from functools import partial

import msgspec

from preflog_contracts.events.labels import LabelSnapshot
from preflog_contracts.events.projects import Question
from preflog_review.domain.answer_measures import answer_distance, comparable_questions
from preflog_review.domain.krippendorff import krippendorff_alpha
from preflog_review.domain.label_agreement import comparable_answers


class QuestionAlpha(msgspec.Struct, frozen=True, kw_only=True):
    question_id: str
    kind: str
    alpha: float | None
    units: int  # units with at least two answers
    values: int  # answers in those units
    observed_disagreement: float | None
    expected_disagreement: float | None


def question_alphas(
    labels: Iterable[tuple[str, LabelSnapshot]], questions: Sequence[Question]
) -> list[QuestionAlpha]:
    """Alpha for each non-TEXT question (follow-ups included), in ontology order.

    ``labels`` are (task id, snapshot) pairs for the labels that count (the caller chooses,
    e.g. submitted and approved). Malformed answers are skipped, as in consensus.
    """
    by_id = comparable_questions(questions)
    units: dict[str, dict[tuple[str, str | None, str | None, str], list[Hashable]]] = {
        qid: defaultdict(list) for qid in by_id
    }
    for task_id, snapshot in labels:
        for key, (_, value) in comparable_answers(snapshot, by_id).items():
            question_id, message_id, response_id = key
            units[question_id][(question_id, message_id, response_id, task_id)].append(value)

    results: list[QuestionAlpha] = []
    for question_id, question in by_id.items():
        question_units = units[question_id]
        ordered = [question_units[key] for key in sorted(question_units, key=_sortable)]
        result = krippendorff_alpha(ordered, partial(answer_distance, question.kind))
        results.append(
            QuestionAlpha(
                question_id=question_id,
                kind=question.kind,
                alpha=result.alpha,
                units=result.units,
                values=result.values,
                observed_disagreement=result.observed_disagreement,
                expected_disagreement=result.expected_disagreement,
            )
        )
    return results


def _sortable(key: tuple[str, str | None, str | None, str]) -> tuple[str, str, str, str]:
    return (key[3], key[0], key[1] or "", key[2] or "")
