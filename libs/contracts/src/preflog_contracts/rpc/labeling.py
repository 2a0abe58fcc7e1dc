"""Requests and responses of the labeling service (service name ``"labeling"``).

Operations and their structs (request -> response):

- create_project: CreateProjectRequest -> ProjectView
- get_project: ProjectRef -> ProjectView
- list_projects: ListProjectsRequest -> ProjectPage
- update_ontology: UpdateOntologyRequest -> ProjectView
- update_project_settings: UpdateProjectSettingsRequest -> ProjectView
- add_project_member: AddProjectMemberRequest -> ProjectMemberView
- add_data_rows_to_project: AddDataRowsRequest -> BatchView
- claim_next_task: ProjectRef -> TaskView | None (None: the queue is empty for the caller)
- release_task, requeue_task: TaskRef -> TaskView
- skip_task: SkipTaskRequest -> TaskView
- rank_responses: RankResponsesRequest -> LabelView
- crown_response: CrownResponseRequest -> LabelView
- edit_response: EditResponseRequest -> LabelView
- add_response: AddResponseRequest -> LabelView
- delete_response: DeleteResponseRequest -> LabelView
- answer_question: AnswerQuestionRequest -> LabelView
- add_comment: AddCommentRequest -> CommentView
- undo, redo, submit_label: TaskRef -> LabelView
- get_task: TaskRef -> TaskView
- get_tasks: IdsRequest -> list[TaskView] (only found and visible ones, any order)
- list_tasks: ListTasksRequest -> TaskPage
- get_label: LabelRef -> LabelView
- get_labels: IdsRequest -> list[LabelView]
- get_data_rows: IdsRequest -> list[DataRowView]
- task_as_of: TaskAsOfRequest -> TaskView | None
- task_history: TaskRef -> list[HistoryEntry]

Field names are snake_case; the gateway renames them to camelCase.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import msgspec

from preflog_contracts.datarow import Message, Part
from preflog_contracts.events.labels import Target
from preflog_contracts.events.projects import ProjectSettings, Question

# --- requests -----------------------------------------------------------------------------


class OntologyInput(msgspec.Struct, frozen=True, kw_only=True):
    """NATIVE takes ``questions``; LABELBOX and DATALOOP take their JSON as ``source``."""

    format: str = "NATIVE"  # NATIVE | LABELBOX | DATALOOP
    questions: list[Question] | None = None
    source: Any = None


class ProjectSettingsPatch(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """Settings to change; a field left None keeps its current value."""

    allow_response_edit: bool | None = None
    allow_response_add: bool | None = None
    allow_response_delete: bool | None = None
    crown_required: bool | None = None
    review_required: bool | None = None
    rank_mode: str | None = None  # FULL_ORDER | SCALE_0_3


class CreateProjectRequest(msgspec.Struct, frozen=True, kw_only=True):
    name: str
    description: str = ""
    quality_mode: str = "BENCHMARK"  # BENCHMARK | CONSENSUS
    consensus_label_count: int = 1
    consensus_coverage: float = 1.0
    ontology: OntologyInput | None = None
    settings: ProjectSettingsPatch | None = None


class ProjectRef(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str


class ListProjectsRequest(msgspec.Struct, frozen=True, kw_only=True):
    first: int = 100
    after: str | None = None
    include_archived: bool = False


class UpdateOntologyRequest(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    ontology: OntologyInput


class UpdateProjectSettingsRequest(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    settings: ProjectSettingsPatch


class AddProjectMemberRequest(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    user_id: str
    role: str  # OWNER | MANAGER | REVIEWER | ANNOTATOR


class RemoveProjectMemberRequest(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    user_id: str


class AddDataRowsRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Exactly one of ``data_row_ids``, ``global_keys`` or ``dataset_id``."""

    project_id: str
    data_row_ids: list[str] | None = None
    global_keys: list[str] | None = None
    dataset_id: str | None = None
    priority: int = 0


class TaskRef(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str


class SkipTaskRequest(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    reason: str = ""


class RankInput(msgspec.Struct, frozen=True, kw_only=True):
    response_id: str
    rank: int  # 1 is best in FULL_ORDER; 0..3 in SCALE_0_3 (3 is best)


class RankResponsesRequest(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    ranking: list[RankInput]
    prompt_id: str | None = None  # may be omitted when the row has one prompt point


class CrownResponseRequest(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    response_id: str
    prompt_id: str | None = None


class EditResponseRequest(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    response_id: str
    content: str


class AddResponseRequest(msgspec.Struct, frozen=True, kw_only=True):
    """Text ``content``, or ``media_url`` (http/https) for media the client streams."""

    task_id: str
    content: str = ""
    prompt_id: str | None = None
    model_config_name: str = ""
    media_url: str | None = None
    mimetype: str | None = None


class DeleteResponseRequest(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    response_id: str


class AnswerQuestionRequest(msgspec.Struct, frozen=True, kw_only=True):
    """``answer`` per kind: RADIO "opt", CHECKLIST ["a", "b"], TEXT "...", SCALE 3, YES_NO true."""

    task_id: str
    question_id: str
    answer: Any
    target: Target | None = None


class AddCommentRequest(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    body: str
    target: Target | None = None


class IdsRequest(msgspec.Struct, frozen=True, kw_only=True):
    ids: list[str]


class LabelRef(msgspec.Struct, frozen=True, kw_only=True):
    label_id: str


class ListTasksRequest(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    status: str | None = None
    first: int = 100  # at most 500
    after: str | None = None


class TaskAsOfRequest(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    at: datetime


# --- responses ----------------------------------------------------------------------------


class PrelabelMark(msgspec.Struct, frozen=True, kw_only=True):
    """Set on content that still holds a pre-label the annotator has not touched."""

    source: str
    confidence: float | None = None


class RankItem(msgspec.Struct, frozen=True, kw_only=True):
    response_id: str
    rank: int


class RankingView(msgspec.Struct, frozen=True, kw_only=True):
    prompt_id: str
    ranking: list[RankItem]
    prelabel: PrelabelMark | None = None


class CrownView(msgspec.Struct, frozen=True, kw_only=True):
    prompt_id: str
    response_id: str
    prelabel: PrelabelMark | None = None


class AnswerView(msgspec.Struct, frozen=True, kw_only=True):
    question_id: str
    value: Any
    target: Target = Target()
    ontology_version: int = 0
    prelabel: PrelabelMark | None = None


class CommentView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    body: str
    author_id: str
    label_id: str
    target: Target = Target()
    created_at: datetime | None = None


class ResponseEditView(msgspec.Struct, frozen=True, kw_only=True):
    """An edited, added or deleted response in a label (the original stays in the row)."""

    response_id: str
    content: list[Part]
    prompt_id: str | None = None
    model_config_name: str = ""
    added: bool = False
    deleted: bool = False
    edited: bool = False
    streamed: bool = False


class LabelView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    task_id: str
    project_id: str
    data_row_id: str
    author_id: str
    status: str  # DRAFT | SUBMITTED | APPROVED | REJECTED
    rankings: list[RankingView] = []
    crowns: list[CrownView] = []
    answers: list[AnswerView] = []
    comments: list[CommentView] = []
    edits: list[ResponseEditView] = []
    prelabels_pending: int = 0  # pre-labelled items the annotator has not touched yet
    can_undo: bool = False
    can_redo: bool = False
    ontology_version: int = 0
    version: int = -1  # the label stream's version this view reflects
    updated_at: datetime | None = None
    submitted_at: datetime | None = None


class ResponseView(msgspec.Struct, frozen=True, kw_only=True):
    """A response as the viewer's label sees it: ``content`` is the edited form."""

    id: str
    title: str
    content: list[Part]
    model_config_name: str = ""
    edited: bool = False
    original: list[Part] | None = None
    deleted: bool = False
    added_by: str | None = None
    streamed: bool = False


class PromptView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    after_message_id: str | None
    responses: list[ResponseView]


class DataRowView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    global_key: str
    dataset_id: str
    messages: list[Message]
    prompts: list[PromptView]
    external_id: str | None = None
    metadata: dict[str, Any] = {}
    created_at: datetime | None = None


class LeaseView(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    label_id: str
    expires_at: datetime


class TaskView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    project_id: str
    data_row_id: str
    batch_id: str
    status: str  # TO_LABEL | IN_REVIEW | IN_REWORK | DONE | SKIPPED
    priority: int
    required_labels: int
    submitted_labels: int
    data_row: DataRowView | None = None
    my_label: LabelView | None = None
    labels: list[LabelView] = []  # every label for reviewers and up; else only the viewer's
    leased_by: str | None = None
    lease_expires_at: datetime | None = None
    leases: list[LeaseView] = []
    created_at: datetime | None = None


class TaskPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[TaskView]
    next_cursor: str | None = None
    has_next_page: bool = False


class ProjectMemberView(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    role: str


class MemberRemovedView(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    user_id: str
    released_leases: int = 0
    """The tasks the member had leased, back in the queue."""


class ProgressView(msgspec.Struct, frozen=True, kw_only=True):
    to_label: int = 0
    in_review: int = 0
    in_rework: int = 0
    done: int = 0
    skipped: int = 0


class OntologyView(msgspec.Struct, frozen=True, kw_only=True):
    version: int
    format: str
    questions: list[Question]


class ProjectView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    name: str
    description: str
    quality_mode: str
    consensus_label_count: int
    consensus_coverage: float
    settings: ProjectSettings
    ontology: OntologyView
    members: list[ProjectMemberView]
    progress: ProgressView
    archived: bool = False
    my_role: str | None = (
        None  # the caller's project role (ADMIN for org admins who are not members)
    )
    created_at: datetime | None = None


class ProjectPage(msgspec.Struct, frozen=True, kw_only=True):
    items: list[ProjectView]
    next_cursor: str | None = None
    has_next_page: bool = False


class BatchView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    project_id: str
    size: int
    priority: int
    task_ids: list[str] = []


class HistoryEntry(msgspec.Struct, frozen=True, kw_only=True):
    event_id: str
    type: str
    stream_name: str
    position: int
    occurred_at: datetime
    actor_id: str
    actor_role: str
    data: Any
    correlation_id: str = ""
