from __future__ import annotations

from preflog_review.domain.annotator_stats import AnnotatorLabelRecord, annotator_summaries


def record(annotator: str, label: str, status: str, **scores: float) -> AnnotatorLabelRecord:
    return AnnotatorLabelRecord(annotator_id=annotator, label_id=label, status=status, **scores)


def test_summaries() -> None:
    records = [
        record("ann", "l1", "APPROVED", consensus_score=0.8, seconds_to_label=30),
        record("ann", "l2", "REJECTED", consensus_score=0.4, benchmark_score=0.5),
        record("ann", "l3", "APPROVED", seconds_to_label=90),
        record("ann", "l4", "SUBMITTED", seconds_to_label=60, benchmark_score=1.0),
        record("ann", "l5", "DRAFT", consensus_score=0.0, seconds_to_label=1),
        record("bob", "l6", "SUBMITTED"),
    ]
    ann, bob = annotator_summaries(records)
    assert ann.annotator_id == "ann"
    assert ann.labels == 4  # the draft does not count
    assert (ann.approved, ann.rejected) == (2, 1)
    assert ann.approval_rate == 2 / 3
    assert ann.mean_consensus_score is not None and abs(ann.mean_consensus_score - 0.6) < 1e-12
    assert ann.mean_benchmark_score == 0.75
    assert ann.median_seconds_to_label == 60.0
    assert bob.labels == 1
    assert bob.approval_rate is None  # nothing reviewed yet
    assert bob.mean_consensus_score is None
    assert bob.median_seconds_to_label is None


def test_no_records() -> None:
    assert annotator_summaries([]) == []
