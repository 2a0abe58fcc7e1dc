"""A label's effective content: pre-labels, then every action not undone, in order.

Pre-labelled items carry their mark (source, confidence) until an action touches the same
item (the same question on the same target, or the same prompt's ranking or crown); if that
action is undone, the pre-label shows again. Deleting a response drops a crown on it and the
ranking of its prompt (the annotator ranks the remaining responses again).
"""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Any

import msgspec

from preflog_contracts.datarow import DataRow, Part
from preflog_contracts.events.labels import (
    Answer,
    CommentAdded,
    Crown,
    EditedResponse,
    LabelSnapshot,
    QuestionAnswered,
    RankEntry,
    Ranking,
    ResponseAdded,
    ResponseCrowned,
    ResponseDeleted,
    ResponseEdited,
    ResponsesRanked,
    Target,
)

if TYPE_CHECKING:  # label.py keeps each state's content with this module's functions
    from preflog_labeling.domain.label import LabelState


class Mark(msgspec.Struct, frozen=True):
    source: str
    confidence: float | None = None


class RankingValue(msgspec.Struct, frozen=True):
    ranking: tuple[RankEntry, ...]
    mark: Mark | None = None


class CrownValue(msgspec.Struct, frozen=True):
    response_id: str
    mark: Mark | None = None


class AnswerValue(msgspec.Struct, frozen=True):
    value: Any
    ontology_version: int
    mark: Mark | None = None


class ResponseChange(msgspec.Struct, frozen=True, kw_only=True):
    content: tuple[Part, ...] | None = None  # None: not edited (original content)
    prompt_id: str | None = None
    model_config_name: str = ""
    added: bool = False
    deleted: bool = False
    streamed: bool = False
    added_by: str | None = None


class CommentValue(msgspec.Struct, frozen=True):
    comment_id: str
    body: str
    target: Target
    author_id: str
    at: datetime | None


AnswerKey = tuple[str, str | None, str | None]  # question id, message id, response id


class LabelContent(msgspec.Struct, kw_only=True):
    rankings: dict[str, RankingValue]
    crowns: dict[str, CrownValue]
    answers: dict[AnswerKey, AnswerValue]
    comments: list[CommentValue]
    responses: dict[str, ResponseChange]

    @property
    def prelabels_pending(self) -> int:
        items: list[Any] = [*self.rankings.values(), *self.crowns.values(), *self.answers.values()]
        return sum(1 for v in items if v.mark is not None)


def answer_key(question_id: str, target: Target) -> AnswerKey:
    return (question_id, target.message_id, target.response_id)


def empty_content() -> LabelContent:
    return LabelContent(rankings={}, crowns={}, answers={}, comments=[], responses={})


def effective_content(state: LabelState) -> LabelContent:
    """The label's content as of ``state`` (kept by :func:`label.evolve`; never mutate it)."""
    return state.content


def fold_content(state: LabelState) -> LabelContent:
    """The content folded from the start: pre-labels, then every action not undone."""
    content = empty_content()
    for p in state.prelabels:
        mark = Mark(p.source if p.source != "mal" else (state.prelabel_source or p.source), p.confidence)
        if p.kind == "answer" and p.question_id is not None:
            key = (p.question_id, p.message_id, p.response_id)
            content.answers[key] = AnswerValue(p.value, state.ontology_version, mark)
        elif p.kind == "ranking" and p.prompt_id is not None and p.ranking:
            entries = tuple(RankEntry(rid, rank) for rid, rank in p.ranking)
            content.rankings[p.prompt_id] = RankingValue(entries, mark)
        elif p.kind == "crown" and p.prompt_id is not None and p.response_id is not None:
            content.crowns[p.prompt_id] = CrownValue(p.response_id, mark)
        # "selection" pre-labels (several responses chosen) have no single-label equivalent.
    for action in state.actions:
        if action.event_id in state.undone:
            continue
        _apply(content, action.event, action.at, action.actor_id or state.author_id)
    return content


def with_action(content: LabelContent, event: Any, at: datetime | None, actor: str) -> LabelContent:
    """``content`` with one more action applied, ``content`` itself untouched: the same as
    folding again from the start (the action goes last, after everything already applied),
    at the cost of copying the content's items instead of replaying the label's history."""
    after = LabelContent(
        rankings=dict(content.rankings),
        crowns=dict(content.crowns),
        answers=dict(content.answers),
        comments=list(content.comments),
        responses=dict(content.responses),
    )
    _apply(after, event, at, actor)
    return after


def _apply(content: LabelContent, event: Any, at: datetime | None, actor: str) -> None:
    match event:
        case ResponsesRanked():
            content.rankings[event.prompt_id] = RankingValue(tuple(event.ranking))
        case ResponseCrowned():
            content.crowns[event.prompt_id] = CrownValue(event.response_id)
        case QuestionAnswered():
            content.answers[answer_key(event.question_id, event.target)] = AnswerValue(
                event.value, event.ontology_version
            )
        case CommentAdded():
            content.comments.append(CommentValue(event.comment_id, event.body, event.target, actor, at))
        case ResponseEdited():
            old = content.responses.get(event.response_id, ResponseChange())
            content.responses[event.response_id] = msgspec.structs.replace(old, content=tuple(event.content))
        case ResponseAdded():
            content.responses[event.response_id] = ResponseChange(
                content=tuple(event.content),
                prompt_id=event.prompt_id,
                model_config_name=event.model_config_name,
                added=True,
                streamed=event.streamed,
                added_by=actor,
            )
        case ResponseDeleted():
            old = content.responses.get(event.response_id, ResponseChange())
            content.responses[event.response_id] = msgspec.structs.replace(old, deleted=True)
            for prompt_id, crown in list(content.crowns.items()):
                if crown.response_id == event.response_id:
                    del content.crowns[prompt_id]
            for prompt_id, ranking in list(content.rankings.items()):
                if any(e.response_id == event.response_id for e in ranking.ranking):
                    del content.rankings[prompt_id]


def prompt_of(row: DataRow, content: LabelContent, response_id: str) -> str | None:
    """The prompt point a response (original or added) belongs to."""
    for prompt in row.prompts:
        if any(r.id == response_id for r in prompt.responses):
            return prompt.id
    change = content.responses.get(response_id)
    return change.prompt_id if change is not None and change.added else None


def live_responses(row: DataRow, content: LabelContent, prompt_id: str) -> list[str]:
    """Response ids of a prompt the label still has: originals not deleted, then additions."""
    prompt = next((p for p in row.prompts if p.id == prompt_id), None)
    if prompt is None:
        return []
    out = [r.id for r in prompt.responses if not content.responses.get(r.id, ResponseChange()).deleted]
    out += [rid for rid, c in content.responses.items() if c.added and c.prompt_id == prompt_id and not c.deleted]
    return out


def snapshot(content: LabelContent) -> LabelSnapshot:
    """What LabelSubmitted carries: the effective content, pre-labels the annotator kept included."""
    return LabelSnapshot(
        rankings=[Ranking(prompt_id=p, ranking=list(v.ranking)) for p, v in content.rankings.items()],
        crowns=[Crown(prompt_id=p, response_id=v.response_id) for p, v in content.crowns.items()],
        answers=[
            Answer(
                question_id=q,
                value=v.value,
                target=Target(message_id=m, response_id=r),
                ontology_version=v.ontology_version,
            )
            for (q, m, r), v in content.answers.items()
        ],
        responses=[
            EditedResponse(
                response_id=rid,
                content=list(c.content or ()),
                prompt_id=c.prompt_id,
                model_config_name=c.model_config_name,
                added=c.added,
                deleted=c.deleted,
                streamed=c.streamed,
            )
            for rid, c in content.responses.items()
        ],
    )
