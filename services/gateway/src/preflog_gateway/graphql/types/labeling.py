"""Projects, ontologies, members, batches, tasks and labels (owned by labeling)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry
from strawberry.scalars import JSON

from preflog_contracts.datarow import Part
from preflog_contracts.events import labels as label_events
from preflog_contracts.events import projects as project_events
from preflog_contracts.rpc import labeling as rpc
from preflog_gateway.graphql.content import ContentFormat, render
from preflog_gateway.graphql.types.audit import AuditEvent
from preflog_gateway.graphql.types.catalog import DataRow, data_row_of_view
from preflog_gateway.graphql.types.enums import (
    ContentFormatEnum,
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
    archived: bool
    my_role: str | None

    @strawberry.field(description="The project's tasks, a page at a time (at most 500).")
    async def tasks(
        self,
        info: strawberry.Info,
        status: TaskStatus | None = None,
        first: int | None = 100,
        after: str | None = None,
    ) -> TaskConnection:
        from preflog_gateway.graphql.resolvers import project_tasks

        return await project_tasks(
            info, str(self.id), status, 100 if first is None else first, after
        )

    @classmethod
    def of(cls, v: rpc.ProjectView) -> Project:
        s = v.settings
        return cls(
            id=strawberry.ID(v.id),
            name=v.name,
            description=v.description or None,
            quality_mode=QualityMode(v.quality_mode),
            consensus_label_count=v.consensus_label_count,
            consensus_coverage=v.consensus_coverage,
            settings=ProjectSettings(
                allow_response_edit=s.allow_response_edit,
                allow_response_add=s.allow_response_add,
                allow_response_delete=s.allow_response_delete,
                crown_required=s.crown_required,
                review_required=s.review_required,
                rank_mode=RankMode(s.rank_mode),
            ),
            ontology=Ontology(
                version=v.ontology.version,
                format=OntologyFormat(v.ontology.format),
                questions=[question_of(q) for q in v.ontology.questions],
            ),
            members=[ProjectMember.of(m) for m in v.members],
            progress=Progress(
                to_label=v.progress.to_label,
                in_review=v.progress.in_review,
                in_rework=v.progress.in_rework,
                done=v.progress.done,
                skipped=v.progress.skipped,
            ),
            archived=v.archived,
            my_role=v.my_role,
        )


def question_of(q: project_events.Question) -> Question:
    return Question(
        id=strawberry.ID(q.id),
        title=q.title,
        kind=QuestionKind(q.kind),
        scope=QuestionScope(q.scope),
        required=q.required,
        options=[
            Option(
                value=o.value,
                label=o.label or None,
                follow_ups=[question_of(f) for f in o.follow_ups],
            )
            for o in q.options
        ],
        min=q.min,
        max=q.max,
        step=q.step,
    )


@strawberry.type
class Batch:
    id: strawberry.ID
    size: int
    priority: int
    task_ids: list[strawberry.ID]


@strawberry.type
class Target:
    message_id: strawberry.ID | None
    response_id: strawberry.ID | None

    @classmethod
    def of(cls, t: label_events.Target | None) -> Target | None:
        if t is None or (not t.message_id and not t.response_id):
            return None
        return cls(
            message_id=strawberry.ID(t.message_id) if t.message_id else None,
            response_id=strawberry.ID(t.response_id) if t.response_id else None,
        )


@strawberry.type(
    description="Content that still holds a pre-label (imported with the row, model-assisted)"
    " the annotator has not touched: where it came from and how sure its source was."
)
class PrelabelMark:
    source: str
    confidence: float | None

    @classmethod
    def of(cls, mark: rpc.PrelabelMark | None) -> PrelabelMark | None:
        return None if mark is None else cls(source=mark.source, confidence=mark.confidence)


@strawberry.type
class RankEntry:
    response_id: strawberry.ID
    rank: int


@strawberry.type
class PromptRanking:
    prompt_id: strawberry.ID | None
    ranking: list[RankEntry]
    prelabel: PrelabelMark | None = strawberry.field(
        description="Set while the ranking is the pre-label's, untouched."
    )


@strawberry.type
class Crown:
    prompt_id: strawberry.ID | None
    response_id: strawberry.ID
    prelabel: PrelabelMark | None = strawberry.field(
        description="Set while the crown is the pre-label's, untouched."
    )


@strawberry.type
class Answer:
    question_id: strawberry.ID
    target: Target | None
    value: JSON
    prelabel: PrelabelMark | None = strawberry.field(
        description="Set while the answer is the pre-label's, untouched."
    )


@strawberry.type
class Comment:
    id: strawberry.ID
    body: str
    target: Target | None
    created_at: datetime | None
    author_id: strawberry.Private[str]

    @strawberry.field
    async def author(self, info: strawberry.Info) -> UserRef | None:
        from preflog_gateway.graphql.types.accounts import User

        found = await info.context["ctx"].loaders.users.load(self.author_id)
        return None if found is None else User.of(found)

    @classmethod
    def of(cls, c: rpc.CommentView) -> Comment:
        return cls(
            id=strawberry.ID(c.id),
            body=c.body,
            target=Target.of(c.target),
            created_at=c.created_at,
            author_id=c.author_id,
        )


@strawberry.type
class ResponseEdit:
    response_id: strawberry.ID
    prompt_id: strawberry.ID | None
    kind: str = strawberry.field(description="EDITED, ADDED or DELETED")
    model_config_name: str
    streamed: bool = strawberry.field(
        description="An added response whose content is a URL to media the client streams."
    )
    parts: strawberry.Private[list[Part]]

    @strawberry.field
    def content(self, format: ContentFormatEnum | None = ContentFormat.MARKDOWN) -> str:  # type: ignore[valid-type]
        return render(self.parts, format)


@strawberry.type
class ProjectMember:
    role: ProjectRole
    user_id: strawberry.Private[str]

    @strawberry.field
    async def user(self, info: strawberry.Info) -> UserRef | None:
        from preflog_gateway.graphql.types.accounts import User

        found = await info.context["ctx"].loaders.users.load(self.user_id)
        return None if found is None else User.of(found)

    @classmethod
    def of(cls, m: rpc.ProjectMemberView) -> ProjectMember:
        return cls(role=ProjectRole(m.role), user_id=m.user_id)


@strawberry.type
class Label:
    id: strawberry.ID
    status: LabelStatus
    rankings: list[PromptRanking]
    crowns: list[Crown]
    answers: list[Answer]
    comments: list[Comment]
    edits: list[ResponseEdit]
    can_undo: bool
    can_redo: bool
    prelabels_pending: int = strawberry.field(
        description="How many rankings, crowns and answers still hold an untouched pre-label."
    )
    updated_at: datetime | None
    view: strawberry.Private[rpc.LabelView]
    reference: strawberry.Private[bool | None] = None
    """Whether it is its row's benchmark reference, when the mutation answering with it just
    decided that (review's read model, read otherwise, learns it a moment later)."""

    @strawberry.field
    async def task(self, info: strawberry.Info) -> Task | None:
        found = await info.context["ctx"].loaders.tasks.load(self.view.task_id)
        return None if found is None else Task.of(found)

    @strawberry.field
    async def author(self, info: strawberry.Info) -> UserRef | None:
        from preflog_gateway.graphql.types.accounts import User

        found = await info.context["ctx"].loaders.users.load(self.view.author_id)
        return None if found is None else User.of(found)

    @strawberry.field
    async def consensus_score(self, info: strawberry.Info) -> float | None:
        score = await info.context["ctx"].loaders.label_scores.load(str(self.id))
        return None if score is None or score.consensus is None else score.consensus.score

    @strawberry.field
    async def benchmark_score(self, info: strawberry.Info) -> float | None:
        score = await info.context["ctx"].loaders.label_scores.load(str(self.id))
        return None if score is None or score.benchmark is None else score.benchmark.score

    @strawberry.field
    async def is_benchmark_reference(self, info: strawberry.Info) -> bool:
        if self.reference is not None:
            return self.reference
        score = await info.context["ctx"].loaders.label_scores.load(str(self.id))
        return bool(score is not None and score.is_reference)

    @strawberry.field(description="Review decisions on this label, oldest first.")
    async def reviews(self, info: strawberry.Info) -> list[ReviewRef]:
        from preflog_gateway.graphql.types.review import Review

        entries = await info.context["ctx"].loaders.reviews.load(str(self.id))
        return [Review.of(e) for e in entries]

    @classmethod
    def of(cls, v: rpc.LabelView) -> Label:
        return cls(
            id=strawberry.ID(v.id),
            status=LabelStatus(v.status),
            rankings=[
                PromptRanking(
                    prompt_id=strawberry.ID(r.prompt_id),
                    ranking=[
                        RankEntry(response_id=strawberry.ID(i.response_id), rank=i.rank)
                        for i in r.ranking
                    ],
                    prelabel=PrelabelMark.of(r.prelabel),
                )
                for r in v.rankings
            ],
            crowns=[
                Crown(
                    prompt_id=strawberry.ID(c.prompt_id),
                    response_id=strawberry.ID(c.response_id),
                    prelabel=PrelabelMark.of(c.prelabel),
                )
                for c in v.crowns
            ],
            answers=[
                Answer(
                    question_id=strawberry.ID(a.question_id),
                    target=Target.of(a.target),
                    value=a.value,
                    prelabel=PrelabelMark.of(a.prelabel),
                )
                for a in v.answers
            ],
            comments=[Comment.of(c) for c in v.comments],
            edits=[
                ResponseEdit(
                    response_id=strawberry.ID(e.response_id),
                    prompt_id=strawberry.ID(e.prompt_id) if e.prompt_id else None,
                    kind="ADDED" if e.added else "DELETED" if e.deleted else "EDITED",
                    model_config_name=e.model_config_name,
                    streamed=e.streamed,
                    parts=list(e.content),
                )
                for e in v.edits
            ],
            can_undo=v.can_undo,
            can_redo=v.can_redo,
            prelabels_pending=v.prelabels_pending,
            updated_at=v.updated_at,
            view=v,
        )


@strawberry.type
class Task:
    id: strawberry.ID
    status: TaskStatus
    priority: int
    required_labels: int
    submitted_labels: int
    lease_expires_at: datetime | None
    labels: list[Label]
    my_label: Label | None
    view: strawberry.Private[rpc.TaskView]

    @strawberry.field
    async def project(self, info: strawberry.Info) -> Project | None:
        found = await info.context["ctx"].loaders.projects.load(self.view.project_id)
        return None if found is None else Project.of(found)

    @strawberry.field
    async def data_row(self, info: strawberry.Info) -> DataRow | None:
        row = self.view.data_row
        if row is None:
            row = await info.context["ctx"].loaders.data_rows.load(self.view.data_row_id)
        return None if row is None else data_row_of_view(row)

    @strawberry.field
    async def leased_by(self, info: strawberry.Info) -> UserRef | None:
        from preflog_gateway.graphql.types.accounts import User

        if self.view.leased_by is None:
            return None
        found = await info.context["ctx"].loaders.users.load(self.view.leased_by)
        return None if found is None else User.of(found)

    @strawberry.field(description="Issues on this task, open and resolved.")
    async def issues(self, info: strawberry.Info) -> list[IssueRef]:
        from preflog_gateway.graphql.types.review import Issue

        found = await info.context["ctx"].loaders.issues.load((self.view.project_id, str(self.id)))
        return [Issue.of(i) for i in found]

    @strawberry.field(
        description="This task's audit events, oldest first. Counts 5 against a query's"
        " complexity budget."
    )
    async def history(self, info: strawberry.Info) -> list[AuditEvent]:
        history = await info.context["ctx"].loaders.histories.load(str(self.id))
        return [AuditEvent.of(e) for e in history]

    @classmethod
    def of(cls, v: rpc.TaskView) -> Task:
        labels = {lv.id: Label.of(lv) for lv in v.labels}
        mine = v.my_label
        return cls(
            id=strawberry.ID(v.id),
            status=TaskStatus(v.status),
            priority=v.priority,
            required_labels=v.required_labels,
            submitted_labels=v.submitted_labels,
            lease_expires_at=v.lease_expires_at,
            labels=list(labels.values()),
            # The viewer's label is also among ``labels``: the same view, converted once.
            my_label=None if mine is None else labels.get(mine.id) or Label.of(mine),
            view=v,
        )


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
    scope: QuestionScope | None = QuestionScope.GLOBAL
    required: bool | None = False
    options: list[OptionInput] | None = None
    min: float | None = None
    max: float | None = None
    step: float | None = None


@strawberry.input
class OntologyInput:
    format: OntologyFormat | None = OntologyFormat.NATIVE
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
    quality_mode: QualityMode | None = QualityMode.BENCHMARK
    consensus_label_count: int | None = 1
    consensus_coverage: float | None = 1.0
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
