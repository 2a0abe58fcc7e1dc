from __future__ import annotations

import math

from preflog_contracts.events.labels import Crown, LabelSnapshot, RankEntry, Ranking
from preflog_review.domain.consensus import summarize_consensus, task_consensus


def crowned(response_id: str) -> LabelSnapshot:
    return LabelSnapshot(crowns=[Crown(prompt_id="p1", response_id=response_id)])


def test_label_and_task_scores_are_pair_means() -> None:
    labels = {"l3": crowned("r2"), "l1": crowned("r1"), "l2": crowned("r1")}
    result = task_consensus(labels, [])
    # Pairs: l1-l2 agree (1), l1-l3 and l2-l3 disagree (0).
    assert [(p.label_a, p.label_b, p.comparison.score) for p in result.pairs] == [
        ("l1", "l2", 1.0),
        ("l1", "l3", 0.0),
        ("l2", "l3", 0.0),
    ]
    assert {c.label_id: c.score for c in result.labels} == {"l1": 0.5, "l2": 0.5, "l3": 0.0}
    assert math.isclose(result.score or 0, 1 / 3)
    assert math.isclose(result.crown_agreement or 0, 1 / 3)
    assert result.kendall_tau is None


def test_fewer_than_two_labels() -> None:
    result = task_consensus({"l1": crowned("r1")}, [])
    assert result.score is None
    assert result.pairs == []
    assert result.labels[0].score is None
    assert result.labels[0].compared_with == 0


def test_order_of_labels_does_not_matter() -> None:
    labels = {"b": crowned("r2"), "a": crowned("r1"), "c": crowned("r1")}
    assert task_consensus(labels, []) == task_consensus(dict(sorted(labels.items())), [])


def test_project_summary_is_pair_weighted() -> None:
    ranked = LabelSnapshot(
        rankings=[Ranking(prompt_id="p1", ranking=[RankEntry("r1", 1), RankEntry("r2", 2)])]
    )
    reverse = LabelSnapshot(
        rankings=[Ranking(prompt_id="p1", ranking=[RankEntry("r1", 2), RankEntry("r2", 1)])]
    )
    task_1 = task_consensus({"a": crowned("r1"), "b": crowned("r1"), "c": crowned("r1")}, [])
    task_2 = task_consensus({"d": ranked, "e": reverse}, [])
    summary = summarize_consensus([task_1, task_2])
    assert summary.pairs == 4
    assert summary.crown_agreement == 1.0
    assert summary.kendall_tau == -1.0
    # Three pair scores of 1 and one of (tau + 1) / 2 = 0.
    assert summary.score == 0.75
