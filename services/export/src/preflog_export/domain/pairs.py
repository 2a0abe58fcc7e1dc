"""Preference pairs from a prompt judgement, by strategy.

``best_vs_rest`` pairs every top-tier response with every lower one; ``best_vs_worst``
pairs every top-tier response with every bottom-tier one; ``all_pairs`` pairs every
response with every response of a lower tier. Responses of one tier are never paired.
"""

from __future__ import annotations

import msgspec

from preflog_export.domain.judgement import Candidate, PromptJudgement, Scored
from preflog_export.domain.options import PairStrategy


class Pair(msgspec.Struct, frozen=True, gc=False):
    chosen: Candidate
    rejected: Candidate
    margin: float


def pairs_of(judgement: PromptJudgement, strategy: PairStrategy) -> list[Pair]:
    """The pairs of one prompt, best first, in the data row's response order within tiers."""
    tiers = judgement.tiers
    if len(tiers) < 2:
        return []
    if strategy == "best_vs_rest":
        return [_pair(best, other) for best in tiers[0] for tier in tiers[1:] for other in tier]
    if strategy == "best_vs_worst":
        return [_pair(best, worst) for best in tiers[0] for worst in tiers[-1]]
    return [
        _pair(better, worse)
        for i, tier in enumerate(tiers)
        for better in tier
        for lower in tiers[i + 1 :]
        for worse in lower
    ]


def _pair(chosen: Scored, rejected: Scored) -> Pair:
    return Pair(chosen.candidate, rejected.candidate, round(chosen.score - rejected.score, 6))
