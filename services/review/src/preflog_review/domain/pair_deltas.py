"""What changes in a project's pair counts when a label's counted outcomes change."""

from __future__ import annotations

from collections.abc import Iterable

import msgspec

from preflog_review.domain.outcome_counts import OutcomeCounts
from preflog_review.domain.pair_outcomes import PairOutcome


class PairDelta(msgspec.Struct, frozen=True, kw_only=True):
    """Signed change of one pair's counts; ``model_a`` < ``model_b``."""

    model_a: str
    model_b: str
    wins_a: int
    wins_b: int
    ties: int


def pair_deltas(before: Iterable[PairOutcome], after: Iterable[PairOutcome]) -> list[PairDelta]:
    """Per pair, ``after``'s counts minus ``before``'s, sorted by names, zero deltas left out.

    Sorted output lets concurrent writers lock pair rows in one order (no deadlocks).
    """
    old, new = OutcomeCounts(), OutcomeCounts()
    old.add(before)
    new.add(after)
    cells: dict[tuple[str, str], list[int]] = {}
    for sign, counts in ((-1, old), (1, new)):
        for p in counts.pairs():
            cell = cells.setdefault((p.model_a, p.model_b), [0, 0, 0])
            cell[0] += sign * p.wins_a
            cell[1] += sign * p.wins_b
            cell[2] += sign * p.ties
    return [
        PairDelta(model_a=a, model_b=b, wins_a=c[0], wins_b=c[1], ties=c[2])
        for (a, b), c in sorted(cells.items())
        if any(c)
    ]
