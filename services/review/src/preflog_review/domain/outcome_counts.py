"""Pairwise outcomes aggregated per unordered model pair, updatable as labels come and go.

The leaderboard needs only these counts, so a project's read model keeps one
``OutcomeCounts``: ``add`` a label's outcomes when it counts, ``remove`` the same outcomes
when it is superseded (rejected, resubmitted). Counts that fall to zero are dropped, so
incremental updates and a rebuild from the log end in equal structures.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable

import msgspec

from preflog_contracts.errors import Internal
from preflog_review.domain.pair_outcomes import PairOutcome


class PairCounts(msgspec.Struct, frozen=True, kw_only=True):
    """Outcomes between two models; ``model_a`` < ``model_b`` by name."""

    model_a: str
    model_b: str
    wins_a: int
    wins_b: int
    ties: int

    @property
    def comparisons(self) -> int:
        return self.wins_a + self.wins_b + self.ties


# (winner, loser, tie) as PairOutcome carries it, tallied before touching the pair table.
_Tally = Counter[tuple[str, str, bool]]


class OutcomeCounts:
    """Mutable counts per unordered model pair; persist with ``pairs()`` / ``from_pairs``."""

    __slots__ = ("_cells",)

    def __init__(self) -> None:
        # (model_a, model_b) with model_a < model_b -> [wins_a, wins_b, ties]
        self._cells: dict[tuple[str, str], list[int]] = {}

    @classmethod
    def from_pairs(cls, pairs: Iterable[PairCounts]) -> OutcomeCounts:
        """Rebuild from stored ``pairs()``; raises ``Internal`` on a malformed row."""
        counts = cls()
        for p in pairs:
            if not p.model_a < p.model_b or min(p.wins_a, p.wins_b, p.ties) < 0:
                raise Internal(f"malformed pair counts {p.model_a!r} vs {p.model_b!r}")
            if p.comparisons:
                counts._cells[(p.model_a, p.model_b)] = [p.wins_a, p.wins_b, p.ties]
        return counts

    def add(self, outcomes: Iterable[PairOutcome]) -> None:
        """Count ``outcomes`` (e.g. ``outcomes_from_label`` of a label that now counts)."""
        for (a, b, slot), n in _by_cell(outcomes).items():
            self._cells.setdefault((a, b), [0, 0, 0])[slot] += n

    def remove(self, outcomes: Iterable[PairOutcome]) -> None:
        """Uncount ``outcomes`` previously added; all or nothing.

        Raises ``Internal`` (and changes nothing) if that would make any count negative:
        the caller removed something it never added.
        """
        cells = _by_cell(outcomes)
        for (a, b, slot), n in cells.items():
            current = self._cells.get((a, b))
            if current is None or current[slot] < n:
                raise Internal(f"removing outcomes never added for {a!r} vs {b!r}")
        for (a, b, slot), n in cells.items():
            current = self._cells[(a, b)]
            current[slot] -= n
            if not any(current):
                del self._cells[(a, b)]

    def pairs(self) -> list[PairCounts]:
        """Every pair with at least one comparison, sorted by model names."""
        return [
            PairCounts(model_a=a, model_b=b, wins_a=c[0], wins_b=c[1], ties=c[2])
            for (a, b), c in sorted(self._cells.items())
        ]

    @property
    def comparisons(self) -> int:
        return sum(sum(c) for c in self._cells.values())

    def __eq__(self, other: object) -> bool:
        return isinstance(other, OutcomeCounts) and self._cells == other._cells

    def __repr__(self) -> str:
        return f"OutcomeCounts(pairs={len(self._cells)}, comparisons={self.comparisons})"


def _by_cell(outcomes: Iterable[PairOutcome]) -> dict[tuple[str, str, int], int]:
    """Group outcomes into (model_a, model_b, slot) -> count, slot 0/1/2 = wins_a/wins_b/ties."""
    # Counter over plain tuples runs in C; the per-cell fold below touches few keys.
    tally: _Tally = Counter((o.winner, o.loser, o.tie) for o in outcomes)
    cells: dict[tuple[str, str, int], int] = {}
    for (winner, loser, tie), n in tally.items():
        if winner == loser:
            continue  # a model against itself says nothing about strength
        a, b = (winner, loser) if winner < loser else (loser, winner)
        slot = 2 if tie else (0 if winner == a else 1)
        cells[(a, b, slot)] = cells.get((a, b, slot), 0) + n
    return cells
