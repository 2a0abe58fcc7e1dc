"""How far two labels of the same data row agree: the measure behind consensus and benchmark.

A comparison has three components, each a mean over the items both labels judged:

- crown agreement: over prompts both labels crowned, the share where they crowned the same
  response;
- ranking: Kendall's tau-b per prompt over the responses both ranked (responses a label
  deleted are not ranked by it), averaged over prompts where tau is defined; mapped to
  [0, 1] as (tau + 1) / 2;
- answers: per (question, target) both answered, the kind's agreement (see
  ``answer_measures``), averaged; TEXT questions and answers to unknown questions are left out.

The combined ``score`` is the unweighted mean of the components that are defined, so it lies
in [0, 1]; it is None when the labels share nothing to compare.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from statistics import fmean

import msgspec

from preflog_contracts.events.labels import LabelSnapshot, Target
from preflog_contracts.events.projects import Question
from preflog_review.domain.answer_measures import (
    answer_agreement,
    comparable_questions,
    comparable_value,
)
from preflog_review.domain.kendall import kendall_tau_b


class AnswerAgreement(msgspec.Struct, frozen=True, kw_only=True):
    question_id: str
    kind: str
    target: Target
    agreement: float


class LabelComparison(msgspec.Struct, frozen=True, kw_only=True):
    score: float | None
    crown_agreement: float | None
    crowned_prompts: int  # prompts both labels crowned
    kendall_tau: float | None  # mean tau-b in [-1, 1]
    ranked_prompts: int  # prompts where tau-b is defined
    ranking_agreement: float | None  # (kendall_tau + 1) / 2
    answer_agreement: float | None
    answers: list[AnswerAgreement]


def compare_labels(
    a: LabelSnapshot, b: LabelSnapshot, questions: Sequence[Question]
) -> LabelComparison:
    """Agreement of two labels on the same data row (symmetric in ``a`` and ``b``).

    ``questions`` is the project ontology (follow-up questions are found too). Rank direction
    does not matter here: tau only needs both labels to use the project's one convention.
    """
    crowns_a, crowns_b = _crowns(a), _crowns(b)
    shared_crowns = sorted(crowns_a.keys() & crowns_b.keys())
    crown_agreement = (
        fmean(1.0 if crowns_a[p] == crowns_b[p] else 0.0 for p in shared_crowns)
        if shared_crowns
        else None
    )

    ranks_a, ranks_b = _ranks(a), _ranks(b)
    taus = [
        tau
        for prompt_id in sorted(ranks_a.keys() & ranks_b.keys())
        if (tau := kendall_tau_b(ranks_a[prompt_id], ranks_b[prompt_id])) is not None
    ]
    kendall_tau = fmean(taus) if taus else None
    ranking_agreement = None if kendall_tau is None else (kendall_tau + 1.0) / 2.0

    answers = _answer_agreements(a, b, comparable_questions(questions))
    answer_mean = fmean(item.agreement for item in answers) if answers else None

    components = [c for c in (crown_agreement, ranking_agreement, answer_mean) if c is not None]
    return LabelComparison(
        score=fmean(components) if components else None,
        crown_agreement=crown_agreement,
        crowned_prompts=len(shared_crowns),
        kendall_tau=kendall_tau,
        ranked_prompts=len(taus),
        ranking_agreement=ranking_agreement,
        answer_agreement=answer_mean,
        answers=answers,
    )


def benchmark_score(
    label: LabelSnapshot, reference: LabelSnapshot, questions: Sequence[Question]
) -> LabelComparison:
    """A label's benchmark score: its agreement with the reference label of its data row."""
    return compare_labels(label, reference, questions)


def _deleted(snapshot: LabelSnapshot) -> set[str]:
    return {r.response_id for r in snapshot.responses if r.deleted}


def _crowns(snapshot: LabelSnapshot) -> dict[str, str]:
    deleted = _deleted(snapshot)
    # A later crown on the same prompt replaces the earlier one.
    return {c.prompt_id: c.response_id for c in snapshot.crowns if c.response_id not in deleted}


def _ranks(snapshot: LabelSnapshot) -> dict[str, dict[str, float]]:
    deleted = _deleted(snapshot)
    by_prompt: dict[str, dict[str, float]] = {}
    for ranking in snapshot.rankings:
        by_prompt[ranking.prompt_id] = {
            e.response_id: float(e.rank) for e in ranking.ranking if e.response_id not in deleted
        }
    return by_prompt


def answer_key(question_id: str, target: Target) -> tuple[str, str | None, str | None]:
    """The unit an answer is about: (question, message, response)."""
    return (question_id, target.message_id, target.response_id)


def comparable_answers(
    snapshot: LabelSnapshot, questions: dict[str, Question]
) -> dict[tuple[str, str | None, str | None], tuple[Target, Hashable]]:
    """A label's answers that can be compared, by (question, target); the last answer wins."""
    found: dict[tuple[str, str | None, str | None], tuple[Target, Hashable]] = {}
    for answer in snapshot.answers:
        question = questions.get(answer.question_id)
        if question is None:
            continue
        value = comparable_value(question, answer.value)
        key = answer_key(answer.question_id, answer.target)
        if value is None:
            found.pop(key, None)
        else:
            found[key] = (answer.target, value)
    return found


def _answer_agreements(
    a: LabelSnapshot, b: LabelSnapshot, questions: dict[str, Question]
) -> list[AnswerAgreement]:
    answers_a = comparable_answers(a, questions)
    answers_b = comparable_answers(b, questions)
    items: list[AnswerAgreement] = []
    for key in sorted(answers_a.keys() & answers_b.keys(), key=_sortable):
        question = questions[key[0]]
        target, value_a = answers_a[key]
        _, value_b = answers_b[key]
        agreement = answer_agreement(question, value_a, value_b)
        if agreement is not None:
            items.append(
                AnswerAgreement(
                    question_id=question.id, kind=question.kind, target=target, agreement=agreement
                )
            )
    return items


def _sortable(key: tuple[str, str | None, str | None]) -> tuple[str, str, str]:
    return (key[0], key[1] or "", key[2] or "")
