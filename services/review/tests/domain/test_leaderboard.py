from __future__ import annotations

import math

import numpy as np
import pytest

from preflog_contracts.errors import Invalid
from preflog_review.domain.leaderboard import compute_leaderboard
from preflog_review.domain.outcome_counts import OutcomeCounts, PairCounts
from preflog_review.domain.pair_outcomes import PairOutcome, tied

SMALL = [
    PairCounts(model_a="alpha", model_b="beta", wins_a=6, wins_b=2, ties=2),
    PairCounts(model_a="alpha", model_b="gamma", wins_a=3, wins_b=1, ties=0),
    PairCounts(model_a="beta", model_b="gamma", wins_a=1, wins_b=1, ties=0),
]


def test_records_and_win_rates() -> None:
    board = compute_leaderboard(SMALL, bootstrap_rounds=50)
    assert board.models[0].model_config_name == "alpha"
    records = {m.model_config_name: (m.wins, m.losses, m.ties, m.comparisons) for m in board.models}
    assert records == {"alpha": (9, 3, 2, 14), "beta": (3, 7, 2, 12), "gamma": (2, 4, 0, 6)}
    assert board.comparisons == 16
    order = [m.model_config_name for m in board.models]
    rate = {(order[i], order[j]): board.win_rates[i][j] for i in range(3) for j in range(3)}
    assert rate[("alpha", "beta")] == 0.7  # (6 + 2/2) / 10
    assert rate[("beta", "alpha")] == pytest.approx(0.3)
    assert rate[("gamma", "alpha")] == 0.25
    assert rate[("alpha", "alpha")] is None
    for m in board.models:
        assert m.ci_low is not None and m.ci_high is not None
        assert m.ci_low <= m.ci_high
    assert math.isclose(sum(m.strength for m in board.models), 0.0, abs_tol=1e-12)


def test_pairs_never_compared_have_no_win_rate() -> None:
    board = compute_leaderboard(
        [
            PairCounts(model_a="a", model_b="b", wins_a=3, wins_b=1, ties=0),
            PairCounts(model_a="b", model_b="c", wins_a=3, wins_b=1, ties=0),
        ],
        bootstrap_rounds=0,
    )
    order = [m.model_config_name for m in board.models]
    assert order == ["a", "b", "c"]
    assert board.win_rates[0][2] is None and board.win_rates[2][0] is None
    assert board.models[0].ci_low is None


def test_empty() -> None:
    board = compute_leaderboard([])
    assert board.models == [] and board.win_rates == [] and board.comparisons == 0


def test_invalid_parameters() -> None:
    with pytest.raises(Invalid):
        compute_leaderboard(SMALL, bootstrap_rounds=-1)
    with pytest.raises(Invalid):
        compute_leaderboard(SMALL, confidence=1.0)
    with pytest.raises(Invalid):
        compute_leaderboard(SMALL, prior=0.0)


def test_deterministic_and_independent_of_input_order() -> None:
    first = compute_leaderboard(SMALL)
    again = compute_leaderboard(list(reversed(SMALL)))
    flipped = [
        PairCounts(
            model_a=p.model_b, model_b=p.model_a, wins_a=p.wins_b, wins_b=p.wins_a, ties=p.ties
        )
        for p in SMALL
    ]
    assert first == again == compute_leaderboard(flipped)
    other_seed = compute_leaderboard(SMALL, seed=1)
    assert [m.strength for m in other_seed.models] == [m.strength for m in first.models]
    assert [m.ci_low for m in other_seed.models] != [m.ci_low for m in first.models]


def simulate(
    true_strength: dict[str, float], n: int, seed: int, tie_rate: float = 0.0
) -> list[PairOutcome]:
    """n comparisons of uniformly random model pairs decided by BT odds, some ties if asked."""
    rng = np.random.default_rng(seed)
    names = sorted(true_strength)
    theta = np.array([true_strength[name] for name in names])
    first = rng.integers(0, len(names), n)
    second = (first + rng.integers(1, len(names), n)) % len(names)
    first_wins = rng.random(n) < 1.0 / (1.0 + np.exp(theta[second] - theta[first]))
    # Ties drawn regardless of strength pull a fit toward 0 (a tie is half a win each way),
    # so the recovery test draws none.
    tie = rng.random(n) < tie_rate
    outcomes = []
    for i, j, won, is_tie in zip(first.tolist(), second.tolist(), first_wins, tie, strict=True):
        a, b = names[i], names[j]
        if is_tie:
            outcomes.append(tied(a, b))
        else:
            outcomes.append(PairOutcome(a, b) if won else PairOutcome(b, a))
    return outcomes


def ranks(values: list[float]) -> list[int]:
    order = sorted(range(len(values)), key=lambda i: values[i])
    result = [0] * len(values)
    for position, i in enumerate(order):
        result[i] = position
    return result


def test_recovers_known_strengths() -> None:
    true_strength = {
        f"model-{i}": s for i, s in enumerate([-1.4, -1.0, -0.6, -0.2, 0.1, 0.4, 0.8, 1.2])
    }
    mean = sum(true_strength.values()) / len(true_strength)
    counts = OutcomeCounts()
    counts.add(simulate(true_strength, 50_000, seed=42))
    board = compute_leaderboard(counts.pairs())
    assert board.converged
    names = [m.model_config_name for m in board.models]
    estimated = [m.strength for m in board.models]
    truth = [true_strength[name] - mean for name in names]
    # Spearman rank correlation from the rank differences.
    d2 = sum((a - b) ** 2 for a, b in zip(ranks(estimated), ranks(truth), strict=True))
    spearman = 1 - 6 * d2 / (8 * (8**2 - 1))
    assert spearman >= 0.97
    inside = sum(
        1
        for m, t in zip(board.models, truth, strict=True)
        if m.ci_low is not None and m.ci_high is not None and m.ci_low <= t <= m.ci_high
    )
    assert inside >= 6
    assert max(abs(e - t) for e, t in zip(estimated, truth, strict=True)) < 0.1


def test_incremental_counts_give_the_same_leaderboard_as_a_rebuild() -> None:
    true_strength = {"a": 0.5, "b": 0.0, "c": -0.5}
    labels = [simulate(true_strength, 20, seed=s, tie_rate=0.2) for s in range(30)]
    incremental = OutcomeCounts()
    for outcomes in labels:
        incremental.add(outcomes)
    for outcomes in labels[::3]:
        incremental.remove(outcomes)  # superseded labels
    rebuilt = OutcomeCounts()
    for index, outcomes in enumerate(labels):
        if index % 3:
            rebuilt.add(outcomes)
    assert compute_leaderboard(incremental.pairs()) == compute_leaderboard(rebuilt.pairs())
