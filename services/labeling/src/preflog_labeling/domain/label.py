"""A label's state folded from its stream: the annotator's actions and the undo machinery.

Undo/redo (DOMAIN.md, "Actions are events"): ``ActionUndone{event_id}`` marks the latest
still-effective action as undone and pushes it on the redo stack; ``ActionRedone`` pops it
back; any new action empties the redo stack. Nothing is removed: the effective content is
the replay of the actions that are not undone (see :mod:`label_content`).

Each state keeps its content: a new action applies to the previous state's content; undo,
redo and pre-labels fold it again from the start. Replaying the whole history on every read
made an action's cost grow with the label's history: through the gateway, the labeling
service's CPU per ranking went 0.89 -> 1.6 -> 2.3 -> 3.0 ms as one label's history grew by a
few hundred actions a round (``services/gateway/bench/request_cost.py --kinds rank``), and
stays at 0.59-0.64 ms now (ADR 0021).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime

import msgspec

from preflog_contracts.events.base import Event
from preflog_contracts.events.catalog import PreLabel
from preflog_contracts.events.labels import (
    ActionRedone,
    ActionUndone,
    CommentAdded,
    LabelStarted,
    LabelSubmitted,
    PreLabelsApplied,
    QuestionAnswered,
    ResponseAdded,
    ResponseCrowned,
    ResponseDeleted,
    ResponseEdited,
    ResponsesRanked,
)
from preflog_labeling.domain.label_content import (
    LabelContent,
    empty_content,
    fold_content,
    with_action,
)

ACTION_TYPES: tuple[type[Event], ...] = (
    ResponsesRanked,
    ResponseCrowned,
    ResponseEdited,
    ResponseAdded,
    ResponseDeleted,
    QuestionAnswered,
    CommentAdded,
)
"""Events that are annotator actions (undoable)."""


class LabelAction(msgspec.Struct, frozen=True):
    event_id: str
    event: Event
    at: datetime | None = None
    actor_id: str = ""


class LabelState(msgspec.Struct, frozen=True, kw_only=True):
    label_id: str
    task_id: str = ""
    project_id: str = ""
    data_row_id: str = ""
    author_id: str = ""
    ontology_version: int = 0
    status: str = "DRAFT"  # DRAFT | SUBMITTED | APPROVED | REJECTED
    started: bool = False
    actions: tuple[LabelAction, ...] = ()
    undone: frozenset[str] = frozenset()
    redo: tuple[str, ...] = ()
    prelabels: tuple[PreLabel, ...] = ()
    prelabel_source: str = ""
    version: int = -1
    updated_at: datetime | None = None
    submitted_at: datetime | None = None
    content: LabelContent = msgspec.field(default_factory=empty_content)
    """The effective content: derived from the fields above, kept by :func:`evolve`."""

    @property
    def can_undo(self) -> bool:
        return self.last_effective() is not None

    @property
    def can_redo(self) -> bool:
        return bool(self.redo)

    def last_effective(self) -> LabelAction | None:
        for action in reversed(self.actions):
            if action.event_id not in self.undone:
                return action
        return None


def evolve(
    state: LabelState, event_id: str, event: Event, at: datetime | None = None, actor_id: str = ""
) -> LabelState:
    """The state after one event of the label's stream."""
    r = msgspec.structs.replace
    if isinstance(event, ACTION_TYPES):
        return r(
            state,
            actions=(*state.actions, LabelAction(event_id, event, at, actor_id)),
            redo=(),
            updated_at=at,
            content=with_action(state.content, event, at, actor_id or state.author_id),
        )
    if isinstance(event, LabelStarted | PreLabelsApplied | ActionUndone | ActionRedone):
        after = _evolve_rest(state, event, at)
        return r(after, content=fold_content(after))
    return _evolve_rest(state, event, at)


def _evolve_rest(state: LabelState, event: Event, at: datetime | None) -> LabelState:
    r = msgspec.structs.replace
    match event:
        case LabelStarted():
            return r(
                state,
                started=True,
                task_id=event.task_id,
                project_id=event.project_id,
                data_row_id=event.data_row_id,
                author_id=event.author_id,
                ontology_version=event.ontology_version,
                status="DRAFT",
                updated_at=at,
            )
        case PreLabelsApplied():
            prelabels = tuple(msgspec.convert(p, PreLabel) for p in event.prelabels)
            return r(state, prelabels=prelabels, prelabel_source=event.source, updated_at=at)
        case ActionUndone():
            return r(
                state,
                undone=state.undone | {event.event_id},
                redo=(*state.redo, event.event_id),
                updated_at=at,
            )
        case ActionRedone():
            redo = tuple(i for i in state.redo if i != event.event_id)
            return r(state, undone=state.undone - {event.event_id}, redo=redo, updated_at=at)
        case LabelSubmitted():
            return r(state, status="SUBMITTED", submitted_at=at, updated_at=at)
    return state


def fold(state: LabelState, events: Sequence[tuple[int, str, Event, datetime | None, str]]) -> LabelState:
    """Fold ``(position, event_id, event, recorded_at, actor_id)`` tuples in stream order."""
    for position, event_id, event, at, actor in events:
        state = msgspec.structs.replace(evolve(state, event_id, event, at, actor), version=position)
    return state
