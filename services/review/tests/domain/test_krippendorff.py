"""Krippendorff's own reliability-data example (Krippendorff 2011, "Computing Krippendorff's
Alpha-Reliability", section C): 4 observers, 12 units, values 1..5, "." missing.

    unit:  1  2  3  4  5  6  7  8  9 10 11 12
    A:     1  2  3  3  2  1  4  1  2  .  .  .
    B:     1  2  3  3  2  2  4  1  2  5  .  3
    C:     .  3  3  3  2  3  4  2  2  5  1  .
    D:     1  2  3  3  2  4  4  1  2  5  1  .

Unit 12 has one value and drops out, leaving n = 40 pairable values with totals
n_1=9, n_2=13, n_3=10, n_4=5, n_5=3. Only units 2 (2,2,3,2), 6 (1,2,3,4) and 8 (1,1,2,1)
disagree internally.

Nominal: ordered disagreeing pairs / (m_u - 1): unit 2: 6/3 = 2, unit 6: 12/3 = 4,
unit 8: 6/3 = 2 -> D_o = 8/40 = 0.2. D_e = (n^2 - sum n_c^2) / (n(n-1))
= (1600 - 384) / 1560 = 1216/1560. alpha = 1 - 0.2 * 1560/1216 = 1 - 312/1216 = 0.743421...
(the paper's 0.743).

Interval (delta = (c-k)^2): unit 2: 6*1/3 = 2; unit 6: 2*(1+4+9+1+4+1)/3 = 40/3;
unit 8: 6*1/3 = 2 -> D_o = (52/3)/40 = 13/30. Expected: sum over value pairs c<k of
2 n_c n_k (c-k)^2 = 2 * (117+360+405+432+130+260+351+50+120+15) = 4480, D_e = 4480/1560
= 112/39. alpha = 1 - (13/30)/(112/39) = 1 - 507/3360 = 0.849107... (the paper's 0.849).
"""

from __future__ import annotations

import math
from collections.abc import Hashable

from hypothesis import given
from hypothesis import strategies as st

from preflog_review.domain.krippendorff import krippendorff_alpha

_: None = None
RELIABILITY_DATA = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, _, _, _],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, _, 3],
    [_, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, _],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, _],
]
UNITS = [
    [float(v) for v in column if v is not None] for column in zip(*RELIABILITY_DATA, strict=True)
]


def nominal(a: Hashable, b: Hashable) -> float:
    return 0.0 if a == b else 1.0


def interval(a: Hashable, b: Hashable) -> float:
    assert isinstance(a, float) and isinstance(b, float)
    return (a - b) ** 2


def test_textbook_nominal() -> None:
    result = krippendorff_alpha(UNITS, nominal)
    assert result.units == 11
    assert result.values == 40
    assert math.isclose(result.observed_disagreement or 0, 0.2)
    assert math.isclose(result.expected_disagreement or 0, 1216 / 1560)
    assert math.isclose(result.alpha or 0, 1 - 312 / 1216)
    assert round(result.alpha or 0, 3) == 0.743


def test_textbook_interval() -> None:
    result = krippendorff_alpha(UNITS, interval)
    assert math.isclose(result.observed_disagreement or 0, 13 / 30)
    assert math.isclose(result.expected_disagreement or 0, 112 / 39)
    assert math.isclose(result.alpha or 0, 1 - 507 / 3360)
    assert round(result.alpha or 0, 3) == 0.849


def test_nothing_pairable_gives_none() -> None:
    result = krippendorff_alpha([[1.0], [], [2.0]], nominal)
    assert result.alpha is None
    assert result.values == 0


def test_all_identical_values_give_none_with_zero_observed_disagreement() -> None:
    result = krippendorff_alpha([["yes", "yes"], ["yes", "yes", "yes"]], nominal)
    assert result.alpha is None
    assert result.observed_disagreement == 0.0
    assert result.expected_disagreement == 0.0


def test_perfect_agreement_with_variation_is_one() -> None:
    assert krippendorff_alpha([["a", "a"], ["b", "b"], ["c", "c", "c"]], nominal).alpha == 1.0


units_strategy = st.lists(st.lists(st.integers(0, 4), min_size=0, max_size=5), max_size=12)


@given(units_strategy)
def test_alpha_bounds(units: list[list[int]]) -> None:
    # D_o >= 0 makes alpha <= 1; alpha is None exactly when nothing is pairable or the
    # pairable values do not vary. (No general lower bound holds for small samples.)
    result = krippendorff_alpha([[float(v) for v in u] for u in units], interval)
    pairable = [v for u in units if len(u) >= 2 for v in u]
    if len(set(pairable)) < 2:
        assert result.alpha is None
    else:
        assert result.alpha is not None
        assert result.alpha <= 1.0 + 1e-12
        assert result.observed_disagreement is not None and result.observed_disagreement >= 0


@given(units_strategy)
def test_alpha_does_not_depend_on_unit_or_value_order(units: list[list[int]]) -> None:
    forward = krippendorff_alpha([[str(v) for v in u] for u in units], nominal).alpha
    backward = krippendorff_alpha([[str(v) for v in reversed(u)] for u in reversed(units)], nominal)
    if forward is None:
        assert backward.alpha is None
    else:
        assert backward.alpha is not None and math.isclose(forward, backward.alpha, abs_tol=1e-9)
