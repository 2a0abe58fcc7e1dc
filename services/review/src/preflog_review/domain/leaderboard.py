"""The model leaderboard of a project, from its pairwise outcome counts.

Strength is the Bradley-Terry log strength centred at 0 (see ``bradley_terry``): the
expected win probability of model i over j is 1 / (1 + exp(strength_j - strength_i)).
Confidence intervals come from a parametric bootstrap of the comparisons: ``bootstrap_rounds``
multinomial resamples of all comparisons over the observed (pair, outcome) cells, each
refitted, and the percentile interval taken. The generator is seeded, so the same counts
always give the same numbers, and a rebuild from the log reproduces them exactly.
"""

from __future__ import annotations

from collections.abc import Iterable

import msgspec
import numpy as np

from preflog_contracts.errors import Invalid
from preflog_review.domain.bradley_terry import FloatArray, fit_bradley_terry
from preflog_review.domain.outcome_counts import PairCounts


class ModelStanding(msgspec.Struct, frozen=True, kw_only=True):
    model_config_name: str
    strength: float
    ci_low: float | None  # None without bootstrap
    ci_high: float | None
    wins: int
    losses: int
    ties: int
    comparisons: int


class Leaderboard(msgspec.Struct, frozen=True, kw_only=True):
    models: list[ModelStanding]  # strongest first; ties in strength by name
    # win_rates[i][j]: share of models[i]'s comparisons with models[j] it won, a tie counting
    # half; None on the diagonal and for pairs never compared.
    win_rates: list[list[float | None]]
    comparisons: int
    bootstrap_rounds: int
    confidence: float
    seed: int
    prior: float
    converged: bool  # every fit (point estimate and replicates) reached its tolerance


def compute_leaderboard(
    pairs: Iterable[PairCounts],
    *,
    bootstrap_rounds: int = 200,
    confidence: float = 0.95,
    seed: int = 0,
    prior: float = 1.0,
) -> Leaderboard:
    """Strengths, intervals, win rates and records for every model in ``pairs``.

    ``pairs`` is ``OutcomeCounts.pairs()`` (any order; a pair given twice is summed).
    Cost depends on the number of models and rounds, not of comparisons. Raises ``Invalid``
    for ``bootstrap_rounds < 0``, ``confidence`` outside (0, 1) or ``prior <= 0`` (see
    ``bradley_terry`` for the prior).
    """
    if bootstrap_rounds < 0:
        raise Invalid("bootstrap_rounds must be >= 0", {"bootstrapRounds": "must be >= 0"})
    if not 0 < confidence < 1:
        raise Invalid("confidence must be in (0, 1)", {"confidence": "must be in (0, 1)"})
    if prior <= 0:
        raise Invalid("prior must be > 0", {"prior": "must be > 0"})

    merged = _merge(pairs)
    names = sorted({a for a, _ in merged} | {b for _, b in merged})
    index = {name: i for i, name in enumerate(names)}
    k = len(names)
    first = np.array([index[a] for a, _ in merged], dtype=np.intp)
    second = np.array([index[b] for _, b in merged], dtype=np.intp)
    cells = np.array(list(merged.values()), dtype=np.int64).reshape(len(merged), 3)
    total = int(cells.sum())

    point = fit_bradley_terry(_win_matrix(cells[None], first, second, k)[0], prior=prior)
    converged = point.converged
    ci_low = ci_high = None
    if bootstrap_rounds and total:
        rng = np.random.default_rng(seed)
        resampled = rng.multinomial(total, cells.ravel() / total, size=bootstrap_rounds)
        wins = _win_matrix(resampled.reshape(bootstrap_rounds, -1, 3), first, second, k)
        replicates = fit_bradley_terry(wins, prior=prior, start=point.strengths)
        converged = converged and replicates.converged
        tail = (1.0 - confidence) / 2.0
        ci_low, ci_high = np.quantile(replicates.strengths, [tail, 1.0 - tail], axis=0)

    won, lost, tied, rate = _records(cells, first, second, k)
    order = sorted(range(k), key=lambda i: (-float(point.strengths[i]), names[i]))
    standings = [
        ModelStanding(
            model_config_name=names[i],
            strength=float(point.strengths[i]),
            ci_low=None if ci_low is None else float(ci_low[i]),
            ci_high=None if ci_high is None else float(ci_high[i]),
            wins=int(won[i]),
            losses=int(lost[i]),
            ties=int(tied[i]),
            comparisons=int(won[i] + lost[i] + tied[i]),
        )
        for i in order
    ]
    win_rates = [[_rate(rate, i, j) for j in order] for i in order]
    return Leaderboard(
        models=standings,
        win_rates=win_rates,
        comparisons=total,
        bootstrap_rounds=bootstrap_rounds if total else 0,
        confidence=confidence,
        seed=seed,
        prior=prior,
        converged=converged,
    )


def _merge(pairs: Iterable[PairCounts]) -> dict[tuple[str, str], list[int]]:
    """Pairs keyed by (model_a, model_b) in name order, duplicates summed, sorted, none empty."""
    merged: dict[tuple[str, str], list[int]] = {}
    for p in pairs:
        if p.model_a == p.model_b or p.comparisons <= 0:
            continue
        if p.model_a < p.model_b:
            key, counts = (p.model_a, p.model_b), (p.wins_a, p.wins_b, p.ties)
        else:
            key, counts = (p.model_b, p.model_a), (p.wins_b, p.wins_a, p.ties)
        cell = merged.setdefault(key, [0, 0, 0])
        for slot, n in enumerate(counts):
            cell[slot] += n
    return dict(sorted(merged.items()))


def _win_matrix(cells: np.ndarray, first: np.ndarray, second: np.ndarray, k: int) -> FloatArray:
    """(b, pairs, 3) counts -> (b, k, k) win matrices with ties as half a win each way."""
    half_ties = cells[..., 2] / 2.0
    wins = np.zeros((cells.shape[0], k, k))
    wins[:, first, second] = cells[..., 0] + half_ties  # pairs are unique (see _merge)
    wins[:, second, first] = cells[..., 1] + half_ties
    return wins


def _records(
    cells: np.ndarray, first: np.ndarray, second: np.ndarray, k: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray, FloatArray]:
    """Wins, losses, ties per model and the (k, k) win-rate matrix (nan where never compared)."""
    won = np.zeros(k, dtype=np.int64)
    lost = np.zeros(k, dtype=np.int64)
    tied = np.zeros(k, dtype=np.int64)
    np.add.at(won, first, cells[:, 0])
    np.add.at(won, second, cells[:, 1])
    np.add.at(lost, first, cells[:, 1])
    np.add.at(lost, second, cells[:, 0])
    np.add.at(tied, first, cells[:, 2])
    np.add.at(tied, second, cells[:, 2])
    credit = _win_matrix(cells[None], first, second, k)[0]
    games = credit + credit.T
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(games > 0, credit / games, np.nan)
    return won, lost, tied, rate


def _rate(rate: FloatArray, i: int, j: int) -> float | None:
    value = float(rate[i, j])
    return None if i == j or np.isnan(value) else value
