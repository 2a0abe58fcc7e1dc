"""Krippendorff's alpha for any difference function (Krippendorff 2011, "Computing
Krippendorff's Alpha-Reliability", coincidence-matrix form).

alpha = 1 - D_o / D_e, where, over the pairable values (those in units with at least two):

    D_o = 1/n * sum_u 1/(m_u - 1) * sum_{i != j in u} delta(v_i, v_j)
    D_e = 1/(n (n - 1)) * sum_{i != j over all n values} delta(v_i, v_j)

Units with fewer than two values carry no information about agreement and are dropped.
alpha is None when nothing is pairable or when D_e = 0 (every pairable value is identical):
with no variation there is nothing to be reliable about, and reporting 1.0 would make a
question everybody answers "yes" look perfectly reliable. ``observed_disagreement`` (0 then)
is still reported, so a caller can show "full agreement, no variation".
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Hashable, Iterable, Mapping, Sequence

import msgspec


class AlphaResult(msgspec.Struct, frozen=True, kw_only=True):
    alpha: float | None
    units: int  # pairable units (>= 2 values)
    values: int  # pairable values, n
    observed_disagreement: float | None
    expected_disagreement: float | None


def krippendorff_alpha(
    units: Iterable[Sequence[Hashable]], distance: Callable[[Hashable, Hashable], float]
) -> AlphaResult:
    """Alpha over ``units`` (each the values coders gave one unit; missing values left out).

    ``distance`` must be symmetric with distance(v, v) == 0. It is called once per pair of
    distinct values, so cost grows with the number of distinct values, not of units.
    """
    delta = cached(distance)
    unit_counts = [Counter(unit) for unit in units if len(unit) >= 2]
    totals: Counter[Hashable] = Counter()
    for counts in unit_counts:
        totals.update(counts)
    observed = sum(unit_disagreement(counts, delta) for counts in unit_counts)
    return alpha_of(len(unit_counts), observed, totals, delta)


def unit_disagreement(
    counts: Counter[Hashable], delta: Callable[[Hashable, Hashable], float]
) -> float:
    """One pairable unit's share of ``n * D_o``: its pair sum over ``m_u - 1``. Units are
    independent, so these add up across units, and across the tasks that hold them."""
    return _pair_sum(counts, delta) / (sum(counts.values()) - 1)


def alpha_of(
    units: int,
    observed: float,
    totals: Mapping[Hashable, int],
    delta: Callable[[Hashable, Hashable], float],
) -> AlphaResult:
    """Alpha from its sums over the pairable units: how many there are, the sum of their
    ``unit_disagreement``, and how often each value occurs in them."""
    n = sum(totals.values())
    if n < 2:
        return AlphaResult(
            alpha=None,
            units=0,
            values=0,
            observed_disagreement=None,
            expected_disagreement=None,
        )
    observed_disagreement = observed / n
    expected = _pair_sum(totals, delta) / (n * (n - 1))
    alpha = None if expected == 0 else 1.0 - observed_disagreement / expected
    return AlphaResult(
        alpha=alpha,
        units=units,
        values=n,
        observed_disagreement=observed_disagreement,
        expected_disagreement=expected,
    )


def cached(
    distance: Callable[[Hashable, Hashable], float],
) -> Callable[[Hashable, Hashable], float]:
    """``distance`` computed once per pair of distinct values (and symmetric)."""
    cache: dict[tuple[Hashable, Hashable], float] = {}

    def delta(a: Hashable, b: Hashable) -> float:
        key = (a, b)
        if key not in cache:
            cache[key] = cache[(b, a)] = distance(a, b)
        return cache[key]

    return delta


def _pair_sum(
    counts: Mapping[Hashable, int], delta: Callable[[Hashable, Hashable], float]
) -> float:
    """sum over ordered pairs i != j of delta, grouped by distinct value (delta(v, v) = 0)."""
    items = list(counts.items())
    total = 0.0
    for i, (a, count_a) in enumerate(items):
        for b, count_b in items[i + 1 :]:
            total += 2.0 * count_a * count_b * delta(a, b)
    return total
