"""Per-annotator quality figures, from plain per-label records the read model can supply."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from statistics import fmean, median

import msgspec


class AnnotatorLabelRecord(msgspec.Struct, frozen=True, kw_only=True):
    """One label as the read model knows it."""

    annotator_id: str
    label_id: str
    status: str  # DRAFT | SUBMITTED | APPROVED | REJECTED
    consensus_score: float | None = None
    benchmark_score: float | None = None
    seconds_to_label: float | None = None  # lease (or start) to submit
    # The consensus score's parts: the label against the other counting labels of its task.
    crown_agreement: float | None = None
    kendall_tau: float | None = None
    answer_agreement: float | None = None


class AnnotatorSummary(msgspec.Struct, frozen=True, kw_only=True):
    annotator_id: str
    labels: int  # records other than DRAFT
    approved: int
    rejected: int
    approval_rate: float | None  # approved / (approved + rejected); None before any review
    mean_consensus_score: float | None
    mean_benchmark_score: float | None
    median_seconds_to_label: float | None
    # Means over the annotator's scored labels of each part of the consensus score: how
    # often their crowns match others', how their rankings correlate with others' (Kendall's
    # tau), how their answers match others'. Krippendorff's alpha describes a set of coders,
    # so it stays per project and question; answer agreement is its per-annotator reading.
    crown_agreement: float | None = None
    kendall_tau: float | None = None
    answer_agreement: float | None = None


def annotator_summaries(records: Iterable[AnnotatorLabelRecord]) -> list[AnnotatorSummary]:
    """One summary per annotator, sorted by annotator id.

    DRAFT records are ignored: unfinished work is neither counted nor scored. Labels still
    awaiting review count in ``labels`` but not in the approval rate.
    """
    by_annotator: dict[str, list[AnnotatorLabelRecord]] = defaultdict(list)
    for record in records:
        if record.status != "DRAFT":
            by_annotator[record.annotator_id].append(record)
    return [_summary(aid, by_annotator[aid]) for aid in sorted(by_annotator)]


def _summary(annotator_id: str, records: list[AnnotatorLabelRecord]) -> AnnotatorSummary:
    return summary_of(
        annotator_id,
        labels=len(records),
        approved=sum(1 for r in records if r.status == "APPROVED"),
        rejected=sum(1 for r in records if r.status == "REJECTED"),
        consensus=[r.consensus_score for r in records if r.consensus_score is not None],
        benchmark=[r.benchmark_score for r in records if r.benchmark_score is not None],
        seconds=[r.seconds_to_label for r in records if r.seconds_to_label is not None],
        crowns=[r.crown_agreement for r in records if r.crown_agreement is not None],
        taus=[r.kendall_tau for r in records if r.kendall_tau is not None],
        answers=[r.answer_agreement for r in records if r.answer_agreement is not None],
    )


def summary_of(
    annotator_id: str,
    *,
    labels: int,
    approved: int,
    rejected: int,
    consensus: Sequence[float],
    benchmark: Sequence[float],
    seconds: Sequence[float],
    crowns: Sequence[float] = (),
    taus: Sequence[float] = (),
    answers: Sequence[float] = (),
) -> AnnotatorSummary:
    """One annotator's summary from their counts and their labels' present scores and times
    (any order: ``fmean`` sums exactly, ``median`` sorts)."""
    reviewed = approved + rejected
    return AnnotatorSummary(
        annotator_id=annotator_id,
        labels=labels,
        approved=approved,
        rejected=rejected,
        approval_rate=approved / reviewed if reviewed else None,
        mean_consensus_score=fmean(consensus) if consensus else None,
        mean_benchmark_score=fmean(benchmark) if benchmark else None,
        median_seconds_to_label=float(median(seconds)) if seconds else None,
        crown_agreement=fmean(crowns) if crowns else None,
        kendall_tau=fmean(taus) if taus else None,
        answer_agreement=fmean(answers) if answers else None,
    )
