"""Krippendorff's alpha per question across a project.

Units are (task, question, target): every label of a task that answered the question on the
same target contributes one value. RADIO and YES_NO use the nominal difference, SCALE the
interval difference, CHECKLIST the Jaccard distance; TEXT questions get no alpha.
See ``krippendorff`` for when alpha is None.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from collections.abc import Hashable, Iterable, Mapping, Sequence
from functools import partial

import msgspec

from preflog_contracts.events.labels import LabelSnapshot
from preflog_contracts.events.projects import Question
from preflog_review.domain.answer_measures import (
    answer_distance,
    comparable_questions,
    comparable_value,
)
from preflog_review.domain.krippendorff import alpha_of, cached, unit_disagreement
from preflog_review.domain.label_agreement import comparable_answers


class QuestionAlpha(msgspec.Struct, frozen=True, kw_only=True):
    question_id: str
    kind: str
    alpha: float | None
    units: int  # units with at least two answers
    values: int  # answers in those units
    observed_disagreement: float | None
    expected_disagreement: float | None


class QuestionPart(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One task's share of a question's alpha: its units are (question, target) within the
    task, so a project's alpha is a sum of these (``alphas_from_parts``)."""

    units: int  # the task's units with at least two answers
    observed: float  # the sum of those units' unit_disagreement
    values: dict[str, int]  # the answers in them, as JSON of the comparable value -> count


def question_alphas(
    labels: Iterable[tuple[str, LabelSnapshot]], questions: Sequence[Question]
) -> list[QuestionAlpha]:
    """Alpha for each non-TEXT question (follow-ups included), in ontology order.

    ``labels`` are (task id, snapshot) pairs for the labels that count (the caller chooses,
    e.g. submitted and approved). Malformed answers are skipped, as in consensus.
    """
    by_task: dict[str, list[LabelSnapshot]] = defaultdict(list)
    for task_id, snapshot in labels:
        by_task[task_id].append(snapshot)
    return alphas_from_parts(
        (question_parts(by_task[task_id], questions) for task_id in sorted(by_task)), questions
    )


def question_parts(
    snapshots: Iterable[LabelSnapshot], questions: Sequence[Question]
) -> dict[str, QuestionPart]:
    """The shares of one task's counting labels in each question's alpha (questions without a
    pairable unit in the task are left out)."""
    by_id = comparable_questions(questions)
    units: dict[str, dict[tuple[str | None, str | None], list[Hashable]]] = defaultdict(
        lambda: defaultdict(list)
    )
    for snapshot in snapshots:
        for key, (_, value) in comparable_answers(snapshot, by_id).items():
            question_id, message_id, response_id = key
            units[question_id][(message_id, response_id)].append(value)
    parts: dict[str, QuestionPart] = {}
    for question_id, question_units in units.items():
        delta = cached(partial(answer_distance, by_id[question_id].kind))
        pairable = [
            Counter(question_units[key])
            for key in sorted(question_units, key=_sortable)
            if len(question_units[key]) >= 2
        ]
        if not pairable:
            continue
        totals: Counter[Hashable] = Counter()
        for counts in pairable:
            totals.update(counts)
        parts[question_id] = QuestionPart(
            units=len(pairable),
            observed=sum(unit_disagreement(counts, delta) for counts in pairable),
            values={_key(value): count for value, count in totals.items()},
        )
    return parts


def alphas_from_parts(
    tasks: Iterable[Mapping[str, QuestionPart]], questions: Sequence[Question]
) -> list[QuestionAlpha]:
    """Each question's alpha over the parts of every task, in ontology order."""
    by_id = comparable_questions(questions)
    units = dict.fromkeys(by_id, 0)
    observed = dict.fromkeys(by_id, 0.0)
    values: dict[str, Counter[str]] = {question_id: Counter() for question_id in by_id}
    for parts in tasks:
        for question_id, part in parts.items():
            if question_id not in by_id:
                continue  # a question the ontology no longer has
            units[question_id] += part.units
            observed[question_id] += part.observed
            values[question_id].update(part.values)
    results: list[QuestionAlpha] = []
    for question_id, question in by_id.items():
        totals: dict[Hashable, int] = {}
        for key, count in values[question_id].items():
            value = comparable_value(question, _json.decode(key))
            if value is not None:
                totals[value] = totals.get(value, 0) + count
        result = alpha_of(
            units[question_id],
            observed[question_id],
            totals,
            cached(partial(answer_distance, question.kind)),
        )
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


_json = msgspec.json.Decoder()


def _key(value: Hashable) -> str:
    """A comparable value as JSON, the same for equal values (a checklist's options sorted);
    ``comparable_value`` turns it back."""
    if isinstance(value, frozenset):
        return msgspec.json.encode(sorted(value)).decode()
    return msgspec.json.encode(value).decode()


def _sortable(key: tuple[str | None, str | None]) -> tuple[str, str]:
    return (key[0] or "", key[1] or "")
