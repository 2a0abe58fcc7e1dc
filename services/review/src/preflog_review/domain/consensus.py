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
from math import fsum
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
    return summarize_pair_sums(pair_sums(task) for task in tasks)


class PairSums(msgspec.Struct, frozen=True, kw_only=True, gc=False):
    """One task's share of its project's pair-weighted means: each component's sum over the
    task's pairs where it is defined, and how many those are."""

    pairs: int = 0
    score: float = 0.0
    scored: int = 0
    crown_agreement: float = 0.0
    crowned: int = 0
    kendall_tau: float = 0.0
    ranked: int = 0
    answer_agreement: float = 0.0
    answered: int = 0


def pair_sums(task: TaskConsensus) -> PairSums:
    comparisons = [pair.comparison for pair in task.pairs]
    score = _present(c.score for c in comparisons)
    crown = _present(c.crown_agreement for c in comparisons)
    tau = _present(c.kendall_tau for c in comparisons)
    answer = _present(c.answer_agreement for c in comparisons)
    return PairSums(
        pairs=len(comparisons),
        score=fsum(score),
        scored=len(score),
        crown_agreement=fsum(crown),
        crowned=len(crown),
        kendall_tau=fsum(tau),
        ranked=len(tau),
        answer_agreement=fsum(answer),
        answered=len(answer),
    )


def summarize_pair_sums(parts: Iterable[PairSums]) -> ConsensusSummary:
    """The project's summary from its tasks' pair sums."""
    parts = list(parts)

    def mean(sums: list[float], counts: list[int]) -> float | None:
        count = sum(counts)
        return fsum(sums) / count if count else None

    return ConsensusSummary(
        score=mean([p.score for p in parts], [p.scored for p in parts]),
        crown_agreement=mean([p.crown_agreement for p in parts], [p.crowned for p in parts]),
        kendall_tau=mean([p.kendall_tau for p in parts], [p.ranked for p in parts]),
        answer_agreement=mean([p.answer_agreement for p in parts], [p.answered for p in parts]),
        pairs=sum(p.pairs for p in parts),
    )


def _present(values: Iterable[float | None]) -> list[float]:
    return [v for v in values if v is not None]


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
