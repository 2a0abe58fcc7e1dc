"""Tasks and labels: every annotator action (owned by labeling)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from preflog_contracts.datarow import Part
from preflog_contracts.events.base import Event


class Target(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What an answer, comment or issue is about; neither id means the whole conversation."""

    message_id: str | None = None
    response_id: str | None = None


class RankEntry(msgspec.Struct, frozen=True, array_like=True):
    response_id: str
    rank: int


class TaskCreated(Event, frozen=True, kw_only=True):
    category = "task"
    task_id: str
    project_id: str
    data_row_id: str
    batch_id: str
    priority: int = 0
    required_labels: int = 1  # labels this task needs (consensus coverage decides, per row)


class TaskLeased(Event, frozen=True, kw_only=True):
    category = "task"
    task_id: str
    project_id: str
    user_id: str
    label_id: str
    expires_at: datetime


class TaskReleased(Event, frozen=True, kw_only=True):
    category = "task"
    task_id: str
    project_id: str
    user_id: str
    reason: str = "released"  # released | expired | submitted


class TaskSkipped(Event, frozen=True, kw_only=True):
    category = "task"
    task_id: str
    project_id: str
    user_id: str
    reason: str = ""


class TaskRequeued(Event, frozen=True, kw_only=True):
    category = "task"
    task_id: str
    project_id: str


class LabelStarted(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    task_id: str
    project_id: str
    data_row_id: str
    author_id: str
    ontology_version: int = 0


class ResponsesRanked(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    prompt_id: str
    ranking: list[RankEntry]


class ResponseCrowned(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    prompt_id: str
    response_id: str


class ResponseEdited(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    response_id: str
    content: list[Part]


class ResponseAdded(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    prompt_id: str
    response_id: str
    content: list[Part]
    model_config_name: str = ""
    streamed: bool = False  # content is a URL to media the client streams


class ResponseDeleted(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    response_id: str


class QuestionAnswered(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    question_id: str
    value: Any
    target: Target = Target()
    ontology_version: int = 0


class CommentAdded(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    comment_id: str
    body: str
    target: Target = Target()


class ActionUndone(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    event_id: str  # the action being undone


class ActionRedone(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    event_id: str  # the action being redone


class PreLabelsApplied(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    prelabels: list[dict[str, Any]]
    source: str = "labelbox_mal"


class Ranking(msgspec.Struct, frozen=True, kw_only=True):
    prompt_id: str
    ranking: list[RankEntry]


class Crown(msgspec.Struct, frozen=True, kw_only=True):
    prompt_id: str
    response_id: str


class Answer(msgspec.Struct, frozen=True, kw_only=True):
    question_id: str
    value: Any
    target: Target = Target()
    ontology_version: int = 0


class EditedResponse(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    response_id: str
    content: list[Part]
    prompt_id: str | None = None  # set for responses the annotator added
    model_config_name: str = ""
    added: bool = False
    deleted: bool = False
    streamed: bool = False


class LabelSnapshot(msgspec.Struct, frozen=True, kw_only=True):
    """A label's effective content at submit time (undone actions already removed)."""

    rankings: list[Ranking] = msgspec.field(default_factory=list)
    crowns: list[Crown] = msgspec.field(default_factory=list)
    answers: list[Answer] = msgspec.field(default_factory=list)
    responses: list[EditedResponse] = msgspec.field(default_factory=list)


class LabelSubmitted(Event, frozen=True, kw_only=True):
    category = "label"
    label_id: str
    task_id: str
    project_id: str
    data_row_id: str
    author_id: str
    snapshot: LabelSnapshot
    leased_at: datetime | None = None
