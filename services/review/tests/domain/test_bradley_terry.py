from __future__ import annotations

import math

import numpy as np
import pytest

from preflog_contracts.errors import Invalid
from preflog_review.domain.bradley_terry import fit_bradley_terry


def log_likelihood_gradient(wins: np.ndarray, theta: np.ndarray) -> np.ndarray:
    """d/dtheta_i of sum_ij W_ij log sigma(theta_i - theta_j) = w_i - sum_j N_ij P(i beats j)."""
    games = wins + wins.T
    p_win = 1.0 / (1.0 + np.exp(theta[None, :] - theta[:, None]))
    np.fill_diagonal(p_win, 0.0)
    gradient: np.ndarray = wins.sum(axis=1) - (games * p_win).sum(axis=1)
    return gradient


def test_two_models_closed_form() -> None:
    # A beats B 3 times, B beats A once: the MLE of p_A / p_B is 3 / 1.
    fit = fit_bradley_terry(np.array([[0.0, 3.0], [1.0, 0.0]]), prior=0.0)
    assert fit.converged
    assert math.isclose(fit.strengths[0], math.log(3) / 2, abs_tol=1e-9)
    assert math.isclose(fit.strengths[1], -math.log(3) / 2, abs_tol=1e-9)


def test_ties_count_as_half_wins() -> None:
    # 2 wins, 1 loss, 2 ties -> W_AB = 2 + 1, W_BA = 1 + 1 -> p_A / p_B = 3 / 2.
    fit = fit_bradley_terry(np.array([[0.0, 3.0], [2.0, 0.0]]), prior=0.0)
    assert math.isclose(fit.strengths[0] - fit.strengths[1], math.log(1.5), abs_tol=1e-9)


def test_cycle_of_equal_records_gives_equal_strengths() -> None:
    # A beats B, B beats C, C beats A, each 2-1: by symmetry every strength is 0.
    wins = np.array([[0.0, 2.0, 1.0], [1.0, 0.0, 2.0], [2.0, 1.0, 0.0]])
    fit = fit_bradley_terry(wins, prior=0.0)
    assert np.allclose(fit.strengths, 0.0, atol=1e-9)


def test_three_models_gradient_vanishes_at_the_fit() -> None:
    wins = np.array([[0.0, 7.0, 9.0], [3.0, 0.0, 5.0], [1.0, 4.0, 0.0]])
    fit = fit_bradley_terry(wins, prior=0.0)
    assert fit.converged
    assert np.max(np.abs(log_likelihood_gradient(wins, fit.strengths))) < 1e-7
    assert abs(fit.strengths.sum()) < 1e-12
    assert fit.strengths[0] > fit.strengths[1] > fit.strengths[2]


def test_prior_is_virtual_ties_spread_over_the_other_models() -> None:
    wins = np.array([[0.0, 4.0, 0.0], [0.0, 0.0, 2.0], [0.0, 0.0, 0.0]])  # C never wins
    fit = fit_bradley_terry(wins, prior=1.0)
    augmented = wins + (1.0 / 4.0) * (1 - np.eye(3))  # prior / (2 (k - 1)) each way
    assert np.max(np.abs(log_likelihood_gradient(augmented, fit.strengths))) < 1e-7
    with pytest.raises(Invalid):
        fit_bradley_terry(wins, prior=0.0)
    with pytest.raises(Invalid):
        fit_bradley_terry(wins, prior=-1.0)


def test_batch_matches_single_fits() -> None:
    rng = np.random.default_rng(7)
    batch = rng.integers(1, 50, size=(5, 4, 4)).astype(float)
    together = fit_bradley_terry(batch)
    for i in range(5):
        alone = fit_bradley_terry(batch[i])
        assert np.allclose(together.strengths[i], alone.strengths, atol=1e-8)


def test_single_model() -> None:
    fit = fit_bradley_terry(np.zeros((1, 1)))
    assert fit.strengths.tolist() == [0.0]
