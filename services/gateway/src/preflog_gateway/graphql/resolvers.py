"""Resolvers that call the labeling and review services (snake_case structs in, GraphQL out)."""

from __future__ import annotations

import asyncio
from typing import Any, cast

import msgspec
import strawberry

from preflog_contracts.errors import Invalid, NotFound
from preflog_contracts.events import labels as label_events
from preflog_contracts.events import projects as project_events
from preflog_contracts.rpc import labeling as lab
from preflog_contracts.rpc import review as rev
from preflog_gateway.graphql.context import GatewayContext
from preflog_gateway.graphql.types.enums import (
    OntologyFormat,
    QualityMode,
    QuestionScope,
    TaskStatus,
)
from preflog_gateway.graphql.types.labeling import (
    Batch,
    Comment,
    CreateProjectInput,
    Label,
    OntologyInput,
    Project,
    ProjectMember,
    ProjectSettingsInput,
    QuestionInput,
    RankInput,
    TargetInput,
    Task,
    TaskConnection,
    TaskEdge,
    TaskPageInfo,
)
from preflog_gateway.graphql.types.review import AgreementReport, Issue, Leaderboard
from preflog_gateway.limits import check_page_size


def ctx_of(info: strawberry.Info) -> GatewayContext:
    ctx: GatewayContext = info.context["ctx"]
    return ctx


# -- input conversion ---------------------------------------------------------------------


def target_of(t: TargetInput | None) -> label_events.Target | None:
    if t is None:
        return None
    return label_events.Target(
        message_id=str(t.message_id) if t.message_id else None,
        response_id=str(t.response_id) if t.response_id else None,
    )


def question_of(q: QuestionInput) -> project_events.Question:
    return project_events.Question(
        id=str(q.id),
        title=q.title,
        kind=q.kind.value,
        scope=(q.scope or QuestionScope.GLOBAL).value,
        required=bool(q.required),
        options=[
            project_events.Option(
                value=o.value,
                label=o.label or "",
                follow_ups=[question_of(f) for f in o.follow_ups or []],
            )
            for o in q.options or []
        ],
        min=q.min,
        max=q.max,
        step=q.step,
    )


def ontology_of(o: OntologyInput | None) -> lab.OntologyInput | None:
    if o is None:
        return None
    return lab.OntologyInput(
        format=(o.format or OntologyFormat.NATIVE).value,
        questions=[question_of(q) for q in o.questions] if o.questions is not None else None,
        source=o.source,
    )


def settings_of(s: ProjectSettingsInput | None) -> lab.ProjectSettingsPatch | None:
    if s is None:
        return None
    return lab.ProjectSettingsPatch(
        allow_response_edit=s.allow_response_edit,
        allow_response_add=s.allow_response_add,
        allow_response_delete=s.allow_response_delete,
        crown_required=s.crown_required,
        review_required=s.review_required,
        rank_mode=s.rank_mode.value if s.rank_mode else None,
    )


# -- labeling -----------------------------------------------------------------------------


async def _label(info: strawberry.Info, op: str, body: Any, key: str | None) -> Label:
    view = await ctx_of(info).call(
        "labeling", op, body, response_type=lab.LabelView, idempotency_key=key
    )
    return Label.of(view)


async def _task(info: strawberry.Info, op: str, body: Any, key: str | None = None) -> Task:
    view = await ctx_of(info).call(
        "labeling", op, body, response_type=lab.TaskView, idempotency_key=key
    )
    return Task.of(view)


async def _project(info: strawberry.Info, op: str, body: Any, key: str | None = None) -> Project:
    view = await ctx_of(info).call(
        "labeling", op, body, response_type=lab.ProjectView, idempotency_key=key
    )
    return Project.of(view)


async def get_project(info: strawberry.Info, project_id: str) -> Project | None:
    # Through the loader: its tasks' ``project`` then needs no second call.
    view = await ctx_of(info).loaders.projects.load(project_id)
    return None if view is None else Project.of(view)


async def list_projects(info: strawberry.Info, include_archived: bool = False) -> list[Project]:
    ctx = ctx_of(info)
    out: list[Project] = []
    after: str | None = None
    while True:
        page = await ctx.call(
            "labeling",
            "list_projects",
            lab.ListProjectsRequest(first=500, after=after, include_archived=include_archived),
            response_type=lab.ProjectPage,
        )
        out.extend(Project.of(p) for p in page.items)
        if not page.has_next_page or page.next_cursor is None:
            return out
        after = page.next_cursor


async def get_task(info: strawberry.Info, task_id: str) -> Task | None:
    try:
        return await _task(info, "get_task", lab.TaskRef(task_id=task_id))
    except NotFound:
        return None


async def get_label(info: strawberry.Info, label_id: str) -> Label | None:
    try:
        view = await ctx_of(info).call(
            "labeling", "get_label", lab.LabelRef(label_id=label_id), response_type=lab.LabelView
        )
    except NotFound:
        return None
    return Label.of(view)


async def task_as_of(info: strawberry.Info, task_id: str, at: Any) -> Task | None:
    view = await ctx_of(info).call(
        "labeling",
        "task_as_of",
        lab.TaskAsOfRequest(task_id=task_id, at=at),
        response_type=cast("type[lab.TaskView | None]", lab.TaskView | None),
    )
    return None if view is None else Task.of(view)


async def project_tasks(
    info: strawberry.Info, project_id: str, status: TaskStatus | None, first: int, after: str | None
) -> TaskConnection:
    ctx = ctx_of(info)
    check_page_size(first, ctx.runtime.settings.max_page_size)
    page = await ctx.call(
        "labeling",
        "list_tasks",
        lab.ListTasksRequest(
            project_id=project_id, status=status.value if status else None, first=first, after=after
        ),
        response_type=lab.TaskPage,
    )
    for view in page.items:  # later field lookups of these tasks need no call
        ctx.loaders.tasks.prime(view.id, view)
    return TaskConnection(
        edges=[TaskEdge(cursor=v.id, node=Task.of(v)) for v in page.items],
        page_info=TaskPageInfo(has_next_page=page.has_next_page, end_cursor=page.next_cursor),
    )


async def create_project(info: strawberry.Info, i: CreateProjectInput, key: str | None) -> Project:
    body = lab.CreateProjectRequest(
        name=i.name,
        description=i.description or "",
        quality_mode=(i.quality_mode or QualityMode.BENCHMARK).value,
        consensus_label_count=1 if i.consensus_label_count is None else i.consensus_label_count,
        consensus_coverage=1.0 if i.consensus_coverage is None else i.consensus_coverage,
        ontology=ontology_of(i.ontology),
        settings=settings_of(i.settings),
    )
    return await _project(info, "create_project", body, key)


async def update_ontology(
    info: strawberry.Info, project_id: str, o: OntologyInput, key: str | None
) -> Project:
    body = lab.UpdateOntologyRequest(project_id=project_id, ontology=ontology_of(o))  # type: ignore[arg-type]
    return await _project(info, "update_ontology", body, key)


async def update_settings(
    info: strawberry.Info, project_id: str, s: ProjectSettingsInput, key: str | None
) -> Project:
    body = lab.UpdateProjectSettingsRequest(project_id=project_id, settings=settings_of(s))  # type: ignore[arg-type]
    return await _project(info, "update_project_settings", body, key)


async def set_archived(
    info: strawberry.Info, project_id: str, archived: bool, key: str | None
) -> Project:
    operation = "archive_project" if archived else "unarchive_project"
    return await _project(info, operation, lab.ProjectRef(project_id=project_id), key)


async def add_member(
    info: strawberry.Info, project_id: str, user_id: str, role: str, key: str | None
) -> ProjectMember:
    view = await ctx_of(info).call(
        "labeling",
        "add_project_member",
        lab.AddProjectMemberRequest(project_id=project_id, user_id=user_id, role=role),
        response_type=lab.ProjectMemberView,
        idempotency_key=key,
    )
    return ProjectMember.of(view)


async def remove_member(
    info: strawberry.Info, project_id: str, user_id: str, key: str | None
) -> bool:
    await ctx_of(info).call(
        "labeling",
        "remove_project_member",
        lab.RemoveProjectMemberRequest(project_id=project_id, user_id=user_id),
        response_type=lab.MemberRemovedView,
        idempotency_key=key,
    )
    return True


async def add_rows(
    info: strawberry.Info,
    project_id: str,
    data_row_ids: list[str] | None,
    global_keys: list[str] | None,
    dataset_id: str | None,
    priority: int | None,
    key: str | None,
) -> Batch:
    view = await ctx_of(info).call(
        "labeling",
        "add_data_rows_to_project",
        lab.AddDataRowsRequest(
            project_id=project_id,
            data_row_ids=data_row_ids,
            global_keys=global_keys,
            dataset_id=dataset_id,
            priority=priority or 0,
        ),
        response_type=lab.BatchView,
        idempotency_key=key,
    )
    return Batch(
        id=strawberry.ID(view.id),
        size=view.size,
        priority=view.priority,
        task_ids=[strawberry.ID(t) for t in view.task_ids],
    )


async def claim_next(info: strawberry.Info, project_id: str, key: str | None) -> Task | None:
    view = await ctx_of(info).call(
        "labeling",
        "claim_next_task",
        lab.ProjectRef(project_id=project_id),
        response_type=cast("type[lab.TaskView | None]", lab.TaskView | None),
        idempotency_key=key,
    )
    return None if view is None else Task.of(view)


def rank_body(
    task_id: str, prompt_id: str | None, ranking: list[RankInput]
) -> lab.RankResponsesRequest:
    return lab.RankResponsesRequest(
        task_id=task_id,
        prompt_id=prompt_id,
        ranking=[lab.RankInput(response_id=str(r.response_id), rank=r.rank) for r in ranking],
    )


async def add_comment(
    info: strawberry.Info, task_id: str, body: str, target: TargetInput | None, key: str | None
) -> Comment:
    view = await ctx_of(info).call(
        "labeling",
        "add_comment",
        lab.AddCommentRequest(task_id=task_id, body=body, target=target_of(target)),
        response_type=lab.CommentView,
        idempotency_key=key,
    )
    return Comment.of(view)


# -- review -------------------------------------------------------------------------------


async def review_action(
    info: strawberry.Info, op: str, body: Any, label_id: str, key: str | None
) -> Label:
    """A review action, answered with the label as labeling now shows it, with the status and
    the reference flag the decision gave it (labeling and review's read model learn the
    decision from review's events a moment later)."""
    ctx = ctx_of(info)
    decided = await ctx.call(
        "review", op, body, response_type=rev.LabelReviewView, idempotency_key=key
    )
    view = await ctx.call(
        "labeling", "get_label", lab.LabelRef(label_id=label_id), response_type=lab.LabelView
    )
    label = Label.of(msgspec.structs.replace(view, status=decided.status))
    label.reference = decided.is_reference
    return label


REQUEUE_WAIT_SECONDS = 5.0


async def requeue_task(info: strawberry.Info, task_id: str, key: str | None) -> Task:
    """A manager puts a task back in the queue. A task in rework goes through review, which
    drops its rejected labels; any other through labeling's queue, which refuses what is not
    skipped or open. Each leg has a key of its own, and review is told the queue's, so a
    repeat is answered by the leg that answered first (``RequeueRework``).

    Labeling learns review's requeue from its event a moment later. The answer waits for
    that (bounded), so that once it is back, the dropped labels' authors are locked out and
    the task is claimable; past the bound it carries the status review gave it."""
    ctx = ctx_of(info)
    try:
        done = await ctx.call(
            "review",
            "requeue_rework",
            rev.RequeueRework(task_id=task_id, queue_key=key),
            response_type=rev.ReworkRequeued,
            idempotency_key=None if key is None else f"{key}#rework",
        )
    except (Invalid, NotFound):
        return await _task(info, "requeue_task", lab.TaskRef(task_id=task_id), key)
    deadline = asyncio.get_running_loop().time() + REQUEUE_WAIT_SECONDS
    while True:
        view = await ctx.call(
            "labeling", "get_task", lab.TaskRef(task_id=task_id), response_type=lab.TaskView
        )
        if view.status != "IN_REWORK":
            return Task.of(view)
        if asyncio.get_running_loop().time() > deadline:
            return Task.of(msgspec.structs.replace(view, status=done.status))
        await asyncio.sleep(0.02)


async def issue_action(info: strawberry.Info, op: str, body: Any, key: str | None) -> Issue:
    view = await ctx_of(info).call(
        "review", op, body, response_type=rev.IssueView, idempotency_key=key
    )
    return Issue.of(view)


async def leaderboard(info: strawberry.Info, project_id: str) -> Leaderboard:
    return Leaderboard.of(await ctx_of(info).loaders.leaderboards.load(project_id))


async def agreement(info: strawberry.Info, project_id: str) -> AgreementReport:
    return AgreementReport.of(await ctx_of(info).loaders.agreements.load(project_id))


__all__ = [
    "add_comment",
    "add_member",
    "add_rows",
    "agreement",
    "claim_next",
    "create_project",
    "get_label",
    "get_project",
    "get_task",
    "issue_action",
    "label_call",
    "leaderboard",
    "list_projects",
    "project_tasks",
    "rank_body",
    "review_action",
    "target_of",
    "task_as_of",
    "update_ontology",
    "update_settings",
]

label_call = _label
task_call = _task
