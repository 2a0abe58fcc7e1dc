"""The aggregate judgement of one prompt point over the exported labels.

Rules (documented for users in ``proto/export/README.md``):

- **Responses.** Each label sees the prompt's responses with its own edits, deletions and
  additions. The aggregate keeps a response unless more than half of the labels deleted
  it; responses a label added are kept (only that label can judge them). An edited
  response carries the edit of the benchmark reference label if it edited it, else the
  edit of the label submitted last.
- **Crown first.** Each label that crowned a kept response votes for it. The response with
  strictly the most votes wins; every response scores its vote share (votes / voters).
  A tie for the most votes means no crown, and the ranking decides.
- **Else ranking.** Each label's ranking (restricted to kept responses, at least two)
  gives every ranked response a normalised Borda score: (responses ranked worse + half the
  responses tied with it) / (ranked responses - 1), so 1 is best and 0 worst. A response
  scores the mean over the labels that ranked it; responses nobody ranked are left out.
- **Order.** Responses sort by score, best first; equal scores (to 1e-9) form a tier and
  are never paired with each other. ``margin`` of a pair is the score difference.
"""

from __future__ import annotations

from typing import Literal

import msgspec

from preflog_contracts.datarow import PromptPoint
from preflog_contracts.events.labels import EditedResponse
from preflog_export.domain.content import content_text
from preflog_export.domain.item import ExportItem, ExportLabel
from preflog_export.domain.options import ExportOptions

JudgementSource = Literal["crown", "ranking"]


class Candidate(msgspec.Struct, frozen=True, gc=False):
    """A response as exported: edited content, model, and where it came from."""

    response_id: str
    content: str
    model: str
    edited: bool = False
    added: bool = False


class Scored(msgspec.Struct, frozen=True, gc=False):
    candidate: Candidate
    score: float


class PromptJudgement(msgspec.Struct, frozen=True, gc=False):
    """A prompt point's responses ordered by aggregate score (best first), ``tiers`` of
    equal score, and the labels whose crowns or rankings produced it."""

    prompt_id: str
    source: JudgementSource
    label_ids: list[str]
    tiers: list[list[Scored]]


def exported_labels(item: ExportItem, options: ExportOptions) -> list[ExportLabel]:
    """The item's labels that pass the status filter, in submission order."""
    statuses = options.label_statuses
    return [label for label in item.labels if label.status in statuses]


def judge_item(
    item: ExportItem, labels: list[ExportLabel], options: ExportOptions
) -> list[PromptJudgement]:
    """One judgement per prompt point that has a decided crown or a usable ranking, in the
    data row's prompt order. ``labels`` are :func:`exported_labels` of the item."""
    if not labels:
        return []
    higher_is_better = item.rank_mode == "SCALE_0_3"
    views = [_LabelView(label) for label in labels]
    judgements: list[PromptJudgement] = []
    for point in item.row.prompts:
        candidates = _candidates(point, views, options)
        if len(candidates) < 2:
            continue
        judgement = _by_crown(point.id, candidates, views)
        if judgement is None:
            judgement = _by_ranking(point.id, candidates, views, higher_is_better)
        if judgement is not None:
            judgements.append(judgement)
    return judgements


class _LabelView:
    """One label's snapshot indexed for lookups by prompt and response."""

    __slots__ = ("added", "crowns", "deleted", "edits", "label", "rankings")

    def __init__(self, label: ExportLabel) -> None:
        snapshot = label.snapshot
        self.label = label
        # Later entries win: a snapshot lists a prompt's crown or ranking once, but being
        # lenient costs nothing.
        self.crowns = {crown.prompt_id: crown.response_id for crown in snapshot.crowns}
        self.rankings = {r.prompt_id: r.ranking for r in snapshot.rankings}
        self.edits: dict[str, EditedResponse] = {}
        self.deleted: set[str] = set()
        self.added: list[EditedResponse] = []
        for response in snapshot.responses:
            if response.deleted:
                self.deleted.add(response.response_id)
            elif response.added:
                self.added.append(response)
            else:
                self.edits[response.response_id] = response


def _candidates(
    point: PromptPoint, views: list[_LabelView], options: ExportOptions
) -> dict[str, Candidate]:
    models = options.models
    if len(views) == 1:
        view = views[0]
        kept: dict[str, Candidate] = {}
        for response in point.responses:
            if response.id in view.deleted:
                continue
            if models is not None and response.model_config_name not in models:
                continue
            edit = view.edits.get(response.id)
            kept[response.id] = Candidate(
                response.id,
                content_text(edit.content if edit is not None else response.content),
                response.model_config_name,
                edit is not None,
            )
        for added in view.added:
            if added.prompt_id == point.id and (
                models is None or added.model_config_name in models
            ):
                kept[added.response_id] = Candidate(
                    added.response_id,
                    content_text(added.content),
                    added.model_config_name,
                    False,
                    True,
                )
        return kept
    return _consensus_candidates(point, views, options)


def _consensus_candidates(
    point: PromptPoint, views: list[_LabelView], options: ExportOptions
) -> dict[str, Candidate]:
    models = options.models
    deletions: dict[str, int] = {}
    for view in views:
        for response_id in view.deleted:
            deletions[response_id] = deletions.get(response_id, 0) + 1
    # Apply edits in precedence order so the winning edit is written last.
    precedence = sorted(views, key=lambda v: (v.label.is_benchmark_reference, v.label.submitted_at))
    kept: dict[str, Candidate] = {}
    for response in point.responses:
        if deletions.get(response.id, 0) * 2 > len(views):
            continue
        if models is not None and response.model_config_name not in models:
            continue
        edit = None
        for view in precedence:
            edit = view.edits.get(response.id, edit)
        kept[response.id] = Candidate(
            response.id,
            content_text(edit.content if edit is not None else response.content),
            response.model_config_name,
            edit is not None,
        )
    for view in views:
        for added in view.added:
            if (
                added.prompt_id == point.id
                and added.response_id not in view.deleted
                and (models is None or added.model_config_name in models)
            ):
                kept[added.response_id] = Candidate(
                    added.response_id,
                    content_text(added.content),
                    added.model_config_name,
                    False,
                    True,
                )
    return kept


def _by_crown(
    prompt_id: str, candidates: dict[str, Candidate], views: list[_LabelView]
) -> PromptJudgement | None:
    votes: dict[str, int] = {}
    voters: list[str] = []
    for view in views:
        response_id = view.crowns.get(prompt_id)
        if response_id is not None and response_id in candidates:
            votes[response_id] = votes.get(response_id, 0) + 1
            voters.append(view.label.label_id)
    if not votes:
        return None
    top = max(votes.values())
    if sum(1 for count in votes.values() if count == top) > 1:
        return None
    total = len(voters)
    scored = [Scored(c, votes.get(rid, 0) / total) for rid, c in candidates.items()]
    return PromptJudgement(prompt_id, "crown", voters, _tiers(scored))


def _by_ranking(
    prompt_id: str,
    candidates: dict[str, Candidate],
    views: list[_LabelView],
    higher_is_better: bool,
) -> PromptJudgement | None:
    totals: dict[str, float] = {}
    counts: dict[str, int] = {}
    rankers: list[str] = []
    for view in views:
        ranking = view.rankings.get(prompt_id)
        if not ranking:
            continue
        ranks = [
            (e.response_id, -e.rank if higher_is_better else e.rank)
            for e in ranking
            if e.response_id in candidates
        ]
        n = len(ranks)
        if n < 2:
            continue
        rankers.append(view.label.label_id)
        values = [rank for _, rank in ranks]
        for response_id, rank in ranks:
            worse = sum(1 for other in values if other > rank)
            tied = sum(1 for other in values if other == rank) - 1
            totals[response_id] = totals.get(response_id, 0.0) + (worse + 0.5 * tied) / (n - 1)
            counts[response_id] = counts.get(response_id, 0) + 1
    if len(totals) < 2:
        return None
    scored = [
        Scored(c, totals[rid] / counts[rid]) for rid, c in candidates.items() if rid in totals
    ]
    return PromptJudgement(prompt_id, "ranking", rankers, _tiers(scored))


_EPSILON = 1e-9


def _tiers(scored: list[Scored]) -> list[list[Scored]]:
    # sorted() is stable: within a tier, responses keep the data row's order.
    ordered = sorted(scored, key=lambda s: -s.score)
    tiers: list[list[Scored]] = [[ordered[0]]]
    for entry in ordered[1:]:
        if tiers[-1][0].score - entry.score > _EPSILON:
            tiers.append([entry])
        else:
            tiers[-1].append(entry)
    return tiers
