from __future__ import annotations

import pytest

from preflog_contracts.errors import Invalid
from preflog_review.domain.rank_direction import RankDirection, rank_direction_for


def test_rank_modes_map_to_directions() -> None:
    assert rank_direction_for("FULL_ORDER") is RankDirection.LOWER_IS_BETTER
    assert rank_direction_for("SCALE_0_3") is RankDirection.HIGHER_IS_BETTER
    with pytest.raises(Invalid):
        rank_direction_for("STARS")


def test_prefers() -> None:
    assert RankDirection.LOWER_IS_BETTER.prefers(1, 2) == 1
    assert RankDirection.LOWER_IS_BETTER.prefers(3, 2) == -1
    assert RankDirection.HIGHER_IS_BETTER.prefers(3, 0) == 1
    assert RankDirection.HIGHER_IS_BETTER.prefers(0, 3) == -1
    assert RankDirection.HIGHER_IS_BETTER.prefers(2, 2) == 0
