"""Kendall's tau-b between two rankings of the same items, ties allowed."""

from __future__ import annotations

import math
from collections.abc import Mapping


def kendall_tau_b(ranks_a: Mapping[str, float], ranks_b: Mapping[str, float]) -> float | None:
    """Kendall's tau-b over the items both mappings rank (item id -> rank).

    tau-b = (concordant - discordant) / sqrt((n0 - ties_a) * (n0 - ties_b)), with n0 the
    number of item pairs and ties_x the pairs tied in ranking x. The result is in [-1, 1] and
    does not depend on which end of the scale is "better", as long as both rankings use the
    same convention. Returns None when fewer than two items are shared or when either ranking
    ties every shared item (the coefficient is undefined then).
    """
    common = sorted(ranks_a.keys() & ranks_b.keys())
    n = len(common)
    if n < 2:
        return None
    xs = [ranks_a[item] for item in common]
    ys = [ranks_b[item] for item in common]
    concordant = discordant = ties_a = ties_b = 0
    # Rankings are per prompt (a handful of responses), so the O(n^2) pair loop is cheapest.
    for i in range(n):
        for j in range(i + 1, n):
            dx = xs[i] - xs[j]
            dy = ys[i] - ys[j]
            if dx == 0:
                ties_a += 1
            if dy == 0:
                ties_b += 1
            if dx == 0 or dy == 0:
                continue
            if (dx > 0) == (dy > 0):
                concordant += 1
            else:
                discordant += 1
    pairs = n * (n - 1) // 2
    denominator = math.sqrt((pairs - ties_a) * (pairs - ties_b))
    if denominator == 0:
        return None
    return (concordant - discordant) / denominator
