"""Invariants of pairs over random consensus labels."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from preflog_export.domain import ExportOptions, dpo_records, reward_ranking_records

RESPONSES = ["A", "B", "C"]
ranking = st.permutations(RESPONSES).map(lambda order: {r: i + 1 for i, r in enumerate(order)})
label_spec = st.tuples(st.none() | st.sampled_from(RESPONSES), st.none() | ranking)


def pair_set(item: Any, strategy: str) -> set[tuple[str, str]]:
    records = dpo_records(item, ExportOptions(pair_strategy=strategy))  # type: ignore[arg-type]
    for record in records:
        assert 0 < record.margin <= 1
        assert record.chosen_response_id != record.rejected_response_id
        assert record.label_ids
    return {(r.chosen_response_id, r.rejected_response_id) for r in records}


@settings(max_examples=200, deadline=None)
@given(specs=st.lists(label_spec, min_size=1, max_size=5))
def test_strategies_nest_and_never_contradict(build: SimpleNamespace, specs: list[Any]) -> None:
    labels = [
        build.label(
            f"l{i}",
            crowns={"p1": crown} if crown else None,
            rankings={"p1": ranks} if ranks else None,
        )
        for i, (crown, ranks) in enumerate(specs)
    ]
    item = build.item(labels)
    rest = pair_set(item, "best_vs_rest")
    everything = pair_set(item, "all_pairs")
    worst = pair_set(item, "best_vs_worst")
    assert worst <= rest <= everything
    # A total order: never both (a, b) and (b, a).
    assert not {(b, a) for a, b in everything} & everything
    judged = reward_ranking_records(item, ExportOptions())
    if not any(crown for crown, _ in specs) and not any(ranks for _, ranks in specs):
        assert everything == set() and judged == []
    if judged:
        ranks = {r.response_id: r.rank for r in judged[0].responses}
        assert all(ranks[a] < ranks[b] for a, b in everything)
    if everything:
        assert judged
