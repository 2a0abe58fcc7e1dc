"""Which end of a rank is better, per project rank mode."""

from __future__ import annotations

from enum import StrEnum

from preflog_contracts.errors import Invalid


class RankDirection(StrEnum):
    LOWER_IS_BETTER = "LOWER_IS_BETTER"  # FULL_ORDER: 1..N, rank 1 is best
    HIGHER_IS_BETTER = "HIGHER_IS_BETTER"  # SCALE_0_3: Dataloop's 0..3 rating, 3 is best

    def prefers(self, rank_a: float, rank_b: float) -> int:
        """+1 if ``rank_a`` is the better rank, -1 if ``rank_b`` is, 0 for a tie."""
        if rank_a == rank_b:
            return 0
        a_lower = rank_a < rank_b
        return 1 if a_lower == (self is RankDirection.LOWER_IS_BETTER) else -1


_BY_RANK_MODE = {
    "FULL_ORDER": RankDirection.LOWER_IS_BETTER,
    "SCALE_0_3": RankDirection.HIGHER_IS_BETTER,
}


def rank_direction_for(rank_mode: str) -> RankDirection:
    """The direction of a project's ``rank_mode``; raises ``Invalid`` for an unknown mode."""
    try:
        return _BY_RANK_MODE[rank_mode]
    except KeyError:
        raise Invalid(
            f"unknown rank mode {rank_mode!r}", {"rankMode": "expected FULL_ORDER or SCALE_0_3"}
        ) from None
