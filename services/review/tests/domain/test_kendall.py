from __future__ import annotations

import math

from hypothesis import given
from hypothesis import strategies as st

from preflog_review.domain.kendall import kendall_tau_b


def test_identical_and_reversed_orders() -> None:
    a = {"r1": 1, "r2": 2, "r3": 3, "r4": 4}
    assert kendall_tau_b(a, a) == 1.0
    assert kendall_tau_b(a, {"r1": 4, "r2": 3, "r3": 2, "r4": 1}) == -1.0


def test_ties_in_one_ranking() -> None:
    # Pairs (a; b): r1r2 (-1; 0) tie in b, r1r3 C, r1r4 C, r2r3 C, r2r4 C, r3r4 (-1; +1) D.
    # C=4, D=1, n0=6, ties_a=0, ties_b=1 -> (4-1)/sqrt(6*5) = 3/sqrt(30).
    a = {"r1": 1, "r2": 2, "r3": 3, "r4": 4}
    b = {"r1": 1, "r2": 1, "r3": 3, "r4": 2}
    assert math.isclose(kendall_tau_b(a, b) or 0, 3 / math.sqrt(30))


def test_ties_in_both_rankings() -> None:
    # SCALE_0_3-style ratings. xy tied in both; xz, xw, yz, yw concordant; zw tied in b.
    # C=4, D=0, ties_a=1, ties_b=2 -> 4/sqrt((6-1)*(6-2)) = 4/sqrt(20).
    a = {"x": 0, "y": 0, "z": 3, "w": 2}
    b = {"x": 1, "y": 1, "z": 3, "w": 3}
    assert math.isclose(kendall_tau_b(a, b) or 0, 4 / math.sqrt(20))


def test_only_shared_items_count() -> None:
    # r9 is only in a, r8 only in b; over r1..r3 both orders agree.
    a = {"r1": 1, "r2": 2, "r3": 3, "r9": 4}
    b = {"r8": 1, "r1": 2, "r2": 3, "r3": 4}
    assert kendall_tau_b(a, b) == 1.0


def test_undefined_cases() -> None:
    assert kendall_tau_b({"r1": 1}, {"r1": 1}) is None
    assert kendall_tau_b({"r1": 1, "r2": 2}, {"r3": 1, "r4": 2}) is None
    # b ties everything: no ordering to correlate with.
    assert kendall_tau_b({"r1": 1, "r2": 2, "r3": 3}, {"r1": 2, "r2": 2, "r3": 2}) is None


rankings = st.dictionaries(
    st.sampled_from([f"r{i}" for i in range(8)]), st.integers(0, 4), min_size=0, max_size=8
)


@given(rankings, rankings)
def test_tau_is_bounded_and_symmetric(a: dict[str, int], b: dict[str, int]) -> None:
    tau = kendall_tau_b(a, b)
    assert tau == kendall_tau_b(b, a)
    if tau is not None:
        assert -1.0 <= tau <= 1.0


@given(rankings, rankings)
def test_reversing_one_ranking_negates_tau(a: dict[str, int], b: dict[str, int]) -> None:
    tau = kendall_tau_b(a, b)
    reversed_b = {k: -v for k, v in b.items()}
    flipped = kendall_tau_b(a, reversed_b)
    if tau is None:
        assert flipped is None
    else:
        assert flipped is not None and math.isclose(flipped, -tau, abs_tol=1e-12)
