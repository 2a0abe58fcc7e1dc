"""Leaderboard benchmark: 1,000,000 pairwise comparisons among 20 models of known strength.

Times (a) aggregating the comparisons into ``OutcomeCounts`` the way the service does (one
``PairOutcome`` per comparison) and (b) the full leaderboard (Bradley-Terry fit, 200 bootstrap
refits, win rates, records), then checks the fit recovers the true strengths and that a rerun
gives identical numbers. Prints one JSON object per line: {"bench", "value", "unit", "limit",
"ratio"}, ratio = value / limit; every line is "lower is better" and passes when ratio < 1.

Run: uv run python services/review/bench/leaderboard_bench.py
"""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable

import numpy as np

from preflog_review.domain.leaderboard import Leaderboard, compute_leaderboard
from preflog_review.domain.outcome_counts import OutcomeCounts
from preflog_review.domain.pair_outcomes import PairOutcome, tied

MODELS = 20
COMPARISONS = 1_000_000
TIE_RATE = 0.05
REPEATS = 3
LIMIT_SECONDS = 2.0


def generate(seed: int = 2024) -> tuple[dict[str, float], list[PairOutcome]]:
    """True centred log strengths and comparisons drawn from them (ties at random)."""
    rng = np.random.default_rng(seed)
    names = [f"model-{i:02d}" for i in range(MODELS)]
    theta = np.linspace(-1.5, 1.5, MODELS)
    first = rng.integers(0, MODELS, COMPARISONS)
    second = (first + rng.integers(1, MODELS, COMPARISONS)) % MODELS
    first_wins = rng.random(COMPARISONS) < 1.0 / (1.0 + np.exp(theta[second] - theta[first]))
    tie = rng.random(COMPARISONS) < TIE_RATE
    outcomes = []
    for i, j, won, is_tie in zip(first.tolist(), second.tolist(), first_wins, tie, strict=True):
        a, b = names[i], names[j]
        if is_tie:
            outcomes.append(tied(a, b))
        else:
            outcomes.append(PairOutcome(a, b) if won else PairOutcome(b, a))
    return dict(zip(names, theta.tolist(), strict=True)), outcomes


def timed(run: Callable[[], object]) -> float:
    """Median wall time of REPEATS runs, in seconds."""
    times = []
    for _ in range(REPEATS):
        start = time.perf_counter()
        run()
        times.append(time.perf_counter() - start)
    return statistics.median(times)


def emit(bench: str, value: float, unit: str, limit: float) -> None:
    print(
        json.dumps(
            {
                "bench": bench,
                "value": round(value, 6),
                "unit": unit,
                "limit": limit,
                "ratio": round(value / limit, 6),
            }
        ),
        flush=True,
    )


def aggregate(outcomes: list[PairOutcome]) -> OutcomeCounts:
    counts = OutcomeCounts()
    counts.add(outcomes)
    return counts


def main() -> None:
    truth, outcomes = generate()
    counts = aggregate(outcomes)
    pairs = counts.pairs()
    assert counts.comparisons == COMPARISONS

    emit(
        "leaderboard_aggregate_1m_outcomes", timed(lambda: aggregate(outcomes)), "s", LIMIT_SECONDS
    )
    emit(
        "leaderboard_compute_20_models_b200",
        timed(lambda: compute_leaderboard(pairs, bootstrap_rounds=200, seed=0)),
        "s",
        LIMIT_SECONDS,
    )

    board: Leaderboard = compute_leaderboard(pairs, bootstrap_rounds=200, seed=0)
    fitted = [m.model_config_name for m in board.models]
    position = {name: i for i, name in enumerate(fitted)}
    true_order = sorted(truth, key=lambda name: -truth[name])
    inversions = sum(
        1
        for i, better in enumerate(true_order)
        for worse in true_order[i + 1 :]
        if position[better] > position[worse]
    )
    emit("leaderboard_rank_inversions_vs_truth", inversions, "pairs", 1.0)
    # Ties drawn regardless of strength shrink all strengths toward 0 by about one factor;
    # compare with the truth scaled by the least-squares factor.
    estimated = np.array([board.models[position[name]].strength for name in truth])
    true_values = np.array(list(truth.values()))
    shrink = float(true_values @ estimated) / float(true_values @ true_values)
    error = float(np.max(np.abs(estimated - shrink * true_values)))
    emit("leaderboard_max_abs_error_vs_scaled_truth", error, "log-strength", 0.05)
    rerun = compute_leaderboard(pairs, bootstrap_rounds=200, seed=0)
    emit("leaderboard_rerun_differences", float(board != rerun), "leaderboards", 1.0)


if __name__ == "__main__":
    main()
