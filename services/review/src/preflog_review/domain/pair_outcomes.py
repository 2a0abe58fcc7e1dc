"""Pairwise model outcomes one label implies, per ``model_config_name``.

Per prompt of the data row, the competing responses are the row's responses plus those the
annotator added, minus those the annotator deleted; responses without a model name (e.g. an
annotator's own text with no model attached) take no part. Edited responses still count for
their model: the annotator judged that model's output.

- If the label crowned one of those responses, the crowned response beats every other one.
- Its ranking gives one outcome per pair of ranked responses that the crown does not already
  decide (all pairs when nothing is crowned); equal ranks (e.g. in SCALE_0_3) are a tie. A
  crown and a ranking together say both who won and how the others placed: the annotator's
  order of the runners-up is information the leaderboard should not drop.

Two responses of the same model compare nothing and are skipped.
"""

from __future__ import annotations

from itertools import combinations

import msgspec

from preflog_contracts.datarow import DataRow
from preflog_contracts.events.labels import LabelSnapshot
from preflog_review.domain.rank_direction import RankDirection


class PairOutcome(msgspec.Struct, frozen=True, array_like=True):
    """``winner`` beat ``loser``; for a tie the two are in name order and ``tie`` is set."""

    winner: str
    loser: str
    tie: bool = False


def tied(model_a: str, model_b: str) -> PairOutcome:
    """A tie between two models, in the canonical (name) order."""
    first, second = (model_a, model_b) if model_a <= model_b else (model_b, model_a)
    return PairOutcome(first, second, tie=True)


def outcomes_from_label(
    snapshot: LabelSnapshot,
    data_row: DataRow,
    direction: RankDirection = RankDirection.LOWER_IS_BETTER,
) -> list[PairOutcome]:
    """Every pairwise outcome of one label, in prompt then response order (deterministic).

    ``direction`` comes from the project's rank mode (``rank_direction_for``). Crowns and
    rankings on prompts the data row does not have are ignored.
    """
    deleted = {r.response_id for r in snapshot.responses if r.deleted}
    added: dict[str, list[tuple[str, str]]] = {}
    for r in snapshot.responses:
        if r.added and not r.deleted and r.prompt_id is not None:
            added.setdefault(r.prompt_id, []).append((r.response_id, r.model_config_name))
    crowns = {c.prompt_id: c.response_id for c in snapshot.crowns}
    rankings = {r.prompt_id: r.ranking for r in snapshot.rankings}

    outcomes: list[PairOutcome] = []
    for prompt in data_row.prompts:
        candidates = [(r.id, r.model_config_name) for r in prompt.responses]
        candidates += added.get(prompt.id, [])
        models = {rid: model for rid, model in candidates if model and rid not in deleted}
        crowned = crowns.get(prompt.id)
        if crowned in models:
            winner = models[crowned]
            outcomes += [
                PairOutcome(winner, model)
                for rid, model in models.items()
                if rid != crowned and model != winner
            ]
        ranking = rankings.get(prompt.id, [])
        ranks = {e.response_id: e.rank for e in ranking if e.response_id in models}
        ranked = [rid for rid in models if rid in ranks and rid != crowned]
        for rid_a, rid_b in combinations(ranked, 2):
            model_a, model_b = models[rid_a], models[rid_b]
            if model_a == model_b:
                continue
            preference = direction.prefers(ranks[rid_a], ranks[rid_b])
            if preference > 0:
                outcomes.append(PairOutcome(model_a, model_b))
            elif preference < 0:
                outcomes.append(PairOutcome(model_b, model_a))
            else:
                outcomes.append(tied(model_a, model_b))
    return outcomes
