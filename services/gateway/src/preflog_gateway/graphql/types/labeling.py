"""Projects, ontologies, members, batches, tasks and labels (owned by labeling)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from preflog_gateway.graphql.types.audit import AuditEvent
from preflog_gateway.graphql.types.catalog import DataRow
from preflog_gateway.graphql.types.enums import (
    LabelStatus,
    OntologyFormat,
    ProjectRole,
    QualityMode,
    QuestionKind,
    QuestionScope,
    RankMode,
    TaskStatus,
)

if TYPE_CHECKING:
    from preflog_gateway.graphql.types.accounts import User
    from preflog_gateway.graphql.types.review import Issue, Review

UserRef = Annotated["User", strawberry.lazy("preflog_gateway.graphql.types.accounts")]
IssueRef = Annotated["Issue", strawberry.lazy("preflog_gateway.graphql.types.review")]
ReviewRef = Annotated["Review", strawberry.lazy("preflog_gateway.graphql.types.review")]


@strawberry.type
class ProjectSettings:
    allow_response_edit: bool
    allow_response_add: bool
    allow_response_delete: bool
    crown_required: bool
    review_required: bool
    rank_mode: RankMode


@strawberry.type
class Option:
    value: str
    label: str | None
    follow_ups: list[Question]


@strawberry.type
class Question:
    id: strawberry.ID
    title: str
    kind: QuestionKind
    scope: QuestionScope
    required: bool
    options: list[Option]
    min: float | None
    max: float | None
    step: float | None


@strawberry.type
class Ontology:
    version: int
    format: OntologyFormat
    questions: list[Question]


@strawberry.type
class ProjectMember:
    user: UserRef
    role: ProjectRole


@strawberry.type
class Progress:
    to_label: int
    in_review: int
    in_rework: int
    done: int
    skipped: int


@strawberry.type
class Project:
    id: strawberry.ID
    name: str
    description: str | None
    quality_mode: QualityMode
    consensus_label_count: int
    consensus_coverage: float
    settings: ProjectSettings
    ontology: Ontology
    members: list[ProjectMember]
    progress: Progress


@strawberry.type
class Batch:
    id: strawberry.ID
    size: int
    priority: int


@strawberry.type
class Target:
    message_id: strawberry.ID | None
    response_id: strawberry.ID | None


@strawberry.type
class RankEntry:
    response_id: strawberry.ID
    rank: int


@strawberry.type
class PromptRanking:
    prompt_id: strawberry.ID | None
    ranking: list[RankEntry]


@strawberry.type
class Crown:
    prompt_id: strawberry.ID | None
    response_id: strawberry.ID


@strawberry.type
class Answer:
    question_id: strawberry.ID
    target: Target | None
    value: JSON


@strawberry.type
class Comment:
    id: strawberry.ID
    body: str
    author: UserRef | None
    target: Target | None
    created_at: datetime


@strawberry.type
class ResponseEdit:
    response_id: strawberry.ID
    prompt_id: strawberry.ID | None
    kind: str = strawberry.field(description="EDITED, ADDED or DELETED")
    content: str | None


@strawberry.type
class Label:
    id: strawberry.ID
    task: Task
    author: UserRef | None
    status: LabelStatus
    rankings: list[PromptRanking]
    crowns: list[Crown]
    answers: list[Answer]
    comments: list[Comment]
    edits: list[ResponseEdit]
    can_undo: bool
    can_redo: bool
    consensus_score: float | None
    benchmark_score: float | None
    reviews: list[ReviewRef]
    updated_at: datetime | None


@strawberry.type
class Task:
    id: strawberry.ID
    status: TaskStatus
    project: Project
    data_row: DataRow
    labels: list[Label]
    my_label: Label | None
    leased_by: UserRef | None
    lease_expires_at: datetime | None
    issues: list[IssueRef]

    @strawberry.field(description="This task's audit events, oldest first.")
    async def history(self, info: strawberry.Info) -> list[AuditEvent]:
        from preflog_gateway.graphql.audit import task_history

        return [AuditEvent.of(e) for e in await task_history(info.context["ctx"], str(self.id))]


@strawberry.type
class TaskEdge:
    cursor: str
    node: Task


@strawberry.type
class TaskPageInfo:
    has_next_page: bool
    end_cursor: str | None


@strawberry.type
class TaskConnection:
    edges: list[TaskEdge]
    page_info: TaskPageInfo


# -- inputs ------------------------------------------------------------------------------


@strawberry.input
class OptionInput:
    value: str
    label: str | None = None
    follow_ups: list[QuestionInput] | None = None


@strawberry.input
class QuestionInput:
    id: strawberry.ID
    title: str
    kind: QuestionKind
    scope: QuestionScope = QuestionScope.GLOBAL
    required: bool = False
    options: list[OptionInput] | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None


@strawberry.input
class OntologyInput:
    format: OntologyFormat = OntologyFormat.NATIVE
    questions: list[QuestionInput] | None = None
    source: JSON | None = None


@strawberry.input
class ProjectSettingsInput:
    allow_response_edit: bool | None = None
    allow_response_add: bool | None = None
    allow_response_delete: bool | None = None
    crown_required: bool | None = None
    review_required: bool | None = None
    rank_mode: RankMode | None = None


@strawberry.input
class CreateProjectInput:
    name: str
    description: str | None = None
    quality_mode: QualityMode = QualityMode.BENCHMARK
    consensus_label_count: int = 1
    consensus_coverage: float = 1.0
    ontology: OntologyInput | None = None
    settings: ProjectSettingsInput | None = None


@strawberry.input
class RankInput:
    response_id: strawberry.ID
    rank: int


@strawberry.input
class TargetInput:
    message_id: strawberry.ID | None = None
    response_id: strawberry.ID | None = None
