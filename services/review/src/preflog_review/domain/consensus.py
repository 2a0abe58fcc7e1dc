"""Consensus scores: how far the labels of one task agree with each other.

Every unordered pair of labels is compared with ``compare_labels``. A label's consensus score
is the mean of its pair scores with every other label of the task; the task's score is the
mean over all pairs. Pairs with nothing to compare (score None) are left out of both means.
Components (crown agreement, tau, answer agreement) are averaged the same way over the pairs
where they are defined, so they are reported alongside but do not recombine into the score.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from itertools import combinations
from statistics import fmean

import msgspec

from preflog_contracts.events.labels import LabelSnapshot
from preflog_contracts.events.projects import Question
from preflog_review.domain.label_agreement import LabelComparison, compare_labels


class LabelPair(msgspec.Struct, frozen=True, kw_only=True):
    label_a: str
    label_b: str
    comparison: LabelComparison


class LabelConsensus(msgspec.Struct, frozen=True, kw_only=True):
    label_id: str
    score: float | None
    crown_agreement: float | None
    kendall_tau: float | None
    answer_agreement: float | None
    compared_with: int  # other labels of the task with a defined pair score


class TaskConsensus(msgspec.Struct, frozen=True, kw_only=True):
    score: float | None
    crown_agreement: float | None
    kendall_tau: float | None
    answer_agreement: float | None
    labels: list[LabelConsensus]  # sorted by label id
    pairs: list[LabelPair]


class ConsensusSummary(msgspec.Struct, frozen=True, kw_only=True):
    """Project-level agreement: means over every label pair of every task."""

    score: float | None
    crown_agreement: float | None
    kendall_tau: float | None
    answer_agreement: float | None
    pairs: int


def task_consensus(
    labels: Mapping[str, LabelSnapshot], questions: Sequence[Question]
) -> TaskConsensus:
    """Consensus of one task's labels (label id -> snapshot); fewer than two labels give Nones.

    The caller chooses which labels count (e.g. submitted and approved, not the benchmark
    reference). Label ids are sorted first, so the result does not depend on mapping order.
    """
    label_ids = sorted(labels)
    pairs = [
        LabelPair(label_a=a, label_b=b, comparison=compare_labels(labels[a], labels[b], questions))
        for a, b in combinations(label_ids, 2)
    ]
    per_label = [
        _label_consensus(label_id, [p for p in pairs if label_id in (p.label_a, p.label_b)])
        for label_id in label_ids
    ]
    comparisons = [p.comparison for p in pairs]
    return TaskConsensus(
        score=_mean(c.score for c in comparisons),
        crown_agreement=_mean(c.crown_agreement for c in comparisons),
        kendall_tau=_mean(c.kendall_tau for c in comparisons),
        answer_agreement=_mean(c.answer_agreement for c in comparisons),
        labels=per_label,
        pairs=pairs,
    )


def summarize_consensus(tasks: Iterable[TaskConsensus]) -> ConsensusSummary:
    """Project agreement (AgreementReport's crownAgreement, rankingKendallTau): pair-weighted."""
    comparisons = [pair.comparison for task in tasks for pair in task.pairs]
    return ConsensusSummary(
        score=_mean(c.score for c in comparisons),
        crown_agreement=_mean(c.crown_agreement for c in comparisons),
        kendall_tau=_mean(c.kendall_tau for c in comparisons),
        answer_agreement=_mean(c.answer_agreement for c in comparisons),
        pairs=len(comparisons),
    )


def _label_consensus(label_id: str, pairs: list[LabelPair]) -> LabelConsensus:
    comparisons = [p.comparison for p in pairs]
    return LabelConsensus(
        label_id=label_id,
        score=_mean(c.score for c in comparisons),
        crown_agreement=_mean(c.crown_agreement for c in comparisons),
        kendall_tau=_mean(c.kendall_tau for c in comparisons),
        answer_agreement=_mean(c.answer_agreement for c in comparisons),
        compared_with=sum(1 for c in comparisons if c.score is not None),
    )


def _mean(values: Iterable[float | None]) -> float | None:
    present = [v for v in values if v is not None]
    return fmean(present) if present else None
