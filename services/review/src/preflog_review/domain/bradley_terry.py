"""Bradley-Terry strengths by Hunter's (2004) MM algorithm, vectorised over many fits at once.

Model: P(i beats j) = p_i / (p_i + p_j). With W[i, j] = wins of i over j (a tie adds 1/2 to
both W[i, j] and W[j, i]), N = W + W^T and w_i = sum_j W[i, j], the MM step is

    p_i <- w_i / sum_{j != i} N[i, j] / (p_i + p_j)

applied to all i at once, then rescaled. Strengths are returned on the natural-log scale
centred at 0: theta_i = log p_i - mean(log p), so P(i beats j) = 1 / (1 + exp(theta_j -
theta_i)) and a difference of 1 means odds of e : 1.

The MLE only exists when every model has a win and the comparison graph is strongly
connected. ``prior`` makes that always hold: it adds ``prior`` virtual comparisons per model,
spread evenly over the other models as ties, which pulls sparse models toward the average and
is negligible once a model has many real comparisons. ``prior=0`` gives the plain MLE.
"""

from __future__ import annotations

import msgspec
import numpy as np
from numpy.typing import NDArray

from preflog_contracts.errors import Invalid

FloatArray = NDArray[np.float64]


class FitResult(msgspec.Struct, frozen=True, kw_only=True):
    """Centred log strengths (shape ``(..., k)``), iterations run, and whether all converged."""

    strengths: FloatArray
    iterations: int
    converged: bool


def fit_bradley_terry(
    wins: FloatArray,
    *,
    prior: float = 1.0,
    tolerance: float = 1e-10,
    max_iterations: int = 10_000,
    start: FloatArray | None = None,
) -> FitResult:
    """Fit strengths for one win matrix ``(k, k)`` or a batch ``(b, k, k)``.

    ``wins[..., i, j]`` is i's wins over j with ties already counted as half to each side;
    the diagonal is ignored. ``start`` (centred log strengths, broadcastable to ``(..., k)``)
    warm-starts the iteration, e.g. bootstrap replicates from the point estimate. Iteration
    stops when no log strength moves more than ``tolerance``. Raises ``Invalid`` when
    ``prior`` is negative, or zero while some model has no win (its MLE is minus infinity).
    Deterministic: the same input gives bit-identical output.
    """
    if prior < 0:
        raise Invalid("prior must be >= 0", {"prior": "must be >= 0"})
    wins = np.array(wins, dtype=np.float64)
    k = wins.shape[-1]
    if k < 2:
        return FitResult(strengths=np.zeros(wins.shape[:-1]), iterations=0, converged=True)
    off_diagonal = ~np.eye(k, dtype=bool)
    wins = np.where(off_diagonal, wins, 0.0)
    if prior > 0:
        wins = wins + np.where(off_diagonal, prior / (2.0 * (k - 1)), 0.0)
    total_wins = wins.sum(axis=-1)
    if np.any(total_wins <= 0):
        raise Invalid("a model without any win has no finite strength; use prior > 0")
    games = wins + np.swapaxes(wins, -1, -2)

    log_p = np.zeros(wins.shape[:-1]) if start is None else np.broadcast_to(start, wins.shape[:-1])
    p = np.exp(log_p)
    converged = False
    iteration = 0
    while iteration < max_iterations:
        iteration += 1
        denominator = (games / (p[..., :, None] + p[..., None, :])).sum(axis=-1)
        new_log_p = np.log(total_wins / denominator)
        new_log_p -= new_log_p.mean(axis=-1, keepdims=True)
        step = np.max(np.abs(new_log_p - log_p))
        log_p = new_log_p
        p = np.exp(log_p)
        if step < tolerance:
            converged = True
            break
    return FitResult(strengths=log_p, iterations=iteration, converged=converged)
