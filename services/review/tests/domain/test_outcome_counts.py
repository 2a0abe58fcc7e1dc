from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from preflog_contracts.errors import Internal
from preflog_review.domain.outcome_counts import OutcomeCounts, PairCounts
from preflog_review.domain.pair_outcomes import PairOutcome, tied


def test_counts_per_unordered_pair() -> None:
    counts = OutcomeCounts()
    counts.add(
        [
            PairOutcome("beta", "alpha"),
            PairOutcome("alpha", "beta"),
            PairOutcome("beta", "alpha"),
            PairOutcome("alpha", "beta", tie=True),
            PairOutcome("gamma", "alpha"),
            PairOutcome("alpha", "alpha"),  # self-comparison: ignored
        ]
    )
    assert counts.pairs() == [
        PairCounts(model_a="alpha", model_b="beta", wins_a=1, wins_b=2, ties=1),
        PairCounts(model_a="alpha", model_b="gamma", wins_a=0, wins_b=1, ties=0),
    ]
    assert counts.comparisons == 5


def test_remove_undoes_add_and_drops_empty_pairs() -> None:
    counts = OutcomeCounts()
    first = [PairOutcome("a", "b"), PairOutcome("b", "c", tie=True)]
    second = [PairOutcome("a", "b")]
    counts.add(first)
    counts.add(second)
    counts.remove(first)
    expected = OutcomeCounts()
    expected.add(second)
    assert counts == expected
    assert counts.pairs() == [PairCounts(model_a="a", model_b="b", wins_a=1, wins_b=0, ties=0)]


def test_removing_what_was_never_added_fails_and_changes_nothing() -> None:
    counts = OutcomeCounts()
    counts.add([PairOutcome("a", "b")])
    before = counts.pairs()
    with pytest.raises(Internal):
        counts.remove([PairOutcome("a", "b"), PairOutcome("b", "a")])
    assert counts.pairs() == before


def test_round_trip_through_pairs() -> None:
    counts = OutcomeCounts()
    counts.add([PairOutcome("x", "y"), PairOutcome("y", "z", tie=True)])
    assert OutcomeCounts.from_pairs(counts.pairs()) == counts
    with pytest.raises(Internal):
        OutcomeCounts.from_pairs([PairCounts(model_a="b", model_b="a", wins_a=1, wins_b=0, ties=0)])


outcome = st.builds(
    PairOutcome, st.sampled_from("abcd"), st.sampled_from("abcd"), st.booleans()
).map(lambda o: tied(o.winner, o.loser) if o.tie else o)


@given(st.lists(st.lists(outcome, max_size=6), max_size=8), st.data())
def test_incremental_equals_rebuild(labels: list[list[PairOutcome]], data: st.DataObject) -> None:
    superseded = data.draw(st.sets(st.integers(0, max(len(labels) - 1, 0))))
    incremental = OutcomeCounts()
    for outcomes in labels:
        incremental.add(outcomes)
    for index in sorted(superseded):
        if index < len(labels):
            incremental.remove(labels[index])
    rebuilt = OutcomeCounts()
    for index, outcomes in enumerate(labels):
        if index not in superseded:
            rebuilt.add(outcomes)
    assert incremental == rebuilt
    assert incremental.pairs() == rebuilt.pairs()
