"""Read side: task, label and data row views from the read models, in bulk."""

from __future__ import annotations

from datetime import UTC, datetime

import msgspec

from preflog_contracts.errors import NotFound
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.labeling import (
    DataRowView,
    IdsRequest,
    LabelRef,
    LabelView,
    LeaseView,
    ListTasksRequest,
    TaskPage,
    TaskRef,
    TaskView,
)
from preflog_eventstore import conditions
from preflog_labeling.domain.label_view import data_row_view, label_view
from preflog_labeling.domain.project import ProjectState
from preflog_labeling.domain.roles import Permission, is_allowed
from preflog_labeling.handlers.access import require
from preflog_labeling.handlers.state import Conn, Deps, RowRecord, version_sql
from preflog_messaging import CallContext

_label_decoder = msgspec.json.Decoder(LabelView)
MAX_IDS = 500
REVIEW_STATUSES = ("APPROVED", "REJECTED")


# The label read model trails the log by a projection pass; each label row comes with its
# stream's current version, and a label behind it (or not in the read model yet) is folded
# from the log instead, so a view right after an action shows that action (read-your-writes).
async def current_label_views(
    deps: Deps,
    org_id: str,
    rows: list[tuple[str, LabelView | None, int | None, int | None]],
    conn: Conn | None = None,
) -> dict[str, LabelView]:
    """``rows``: (label id, read-model view or None, its version, the stream's version)."""
    out: dict[str, LabelView] = {}
    for label_id, view, version, current in rows:
        if view is not None and version is not None and (current is None or current <= version):
            out[label_id] = view
            continue
        try:
            out[label_id] = label_view(await deps.label(label_id, org_id, conn=conn))
        except NotFound:
            continue
    return out


class _Assignment(msgspec.Struct, array_like=True, frozen=True):
    user_id: str
    label_id: str
    label_status: str
    lease_expires_at: datetime | None


class _LabelRow(msgspec.Struct, array_like=True, frozen=True):
    label_id: str
    view: LabelView
    version: int
    current: int | None
    """The label stream's version now (the view is current when it is not ahead)."""


class _TaskRow(msgspec.Struct, array_like=True, frozen=True):
    task_id: str
    project_id: str
    data_row_id: str
    batch_id: str
    status: str
    priority: int
    required_labels: int
    submitted_labels: int
    created_at: datetime
    project_version: int | None
    assignments: list[_Assignment]
    labels: list[_LabelRow]


# A task with its assignments, its labels in the read model and the versions they are checked
# against, as one JSON document: one round trip per read. One task is matched by ``= $1`` so
# that the statement keeps one generic plan; an array parameter makes Postgres plan it anew on
# every call (a one-element array always looks cheaper than the generic plan's guess).
_TASKS_SQL = (
    "select coalesce(json_agg(json_build_array(t.task_id, t.project_id, t.data_row_id, t.batch_id, t.status,"
    " t.priority, t.required_labels, t.submitted_labels, t.created_at, "
    + version_sql("project", "t.project_id")
    + ", (select coalesce(json_agg(json_build_array(a.user_id, a.label_id, a.label_status, a.lease_expires_at)),"
    " '[]') from labeling.assignments a where a.task_id = t.task_id),"
    " (select coalesce(json_agg(json_build_array(l.label_id, l.view, l.version, "
    + version_sql("label", "l.label_id")
    + ")), '[]') from labeling.labels l where l.task_id = t.task_id))), '[]')::text"
    " from labeling.tasks t where t.task_id {match} and t.org_id = $2"
)
_ONE_TASK_SQL = _TASKS_SQL.format(match="= $1")
_SOME_TASKS_SQL = _TASKS_SQL.format(match="= any($1::text[])")
_tasks_decoder = msgspec.json.Decoder(list[_TaskRow])


def row_view(rec: RowRecord, label: LabelView | None) -> DataRowView:
    return data_row_view(
        rec.data_row_id,
        rec.global_key,
        rec.dataset_id,
        rec.row,
        external_id=rec.external_id,
        metadata=rec.metadata,
        created_at=rec.created_at,
        label=label,
    )


def sees_all_labels(project: ProjectState, ident: Identity) -> bool:
    return is_allowed(project.members.get(ident.user_id), ident.is_admin, Permission.SEE_ALL_LABELS)


async def task_views(
    deps: Deps,
    ident: Identity,
    ids: list[str],
    *,
    fresh: dict[str, LabelView] | None = None,
    conn: Conn | None = None,
) -> list[TaskView]:
    """Views of the tasks the caller may see (others are left out, as if missing).

    Reviewers and up see every label; an annotator sees tasks they have a label on, and only
    their own label. ``fresh`` overrides labels with views newer than the read model.
    """
    db = conn if conn is not None else deps.pool
    if len(ids) == 1:
        raw = await db.fetchval(_ONE_TASK_SQL, ids[0], ident.org_id)
    else:
        raw = await db.fetchval(_SOME_TASKS_SQL, ids, ident.org_id)
    tasks = _tasks_decoder.decode(raw)
    if not tasks:
        return []
    fresh = fresh or {}
    in_model = {label.label_id for t in tasks for label in t.labels}
    current = await current_label_views(
        deps,
        ident.org_id,
        [(x.label_id, x.view, x.version, x.current) for t in tasks for x in t.labels if x.label_id not in fresh]
        # labels just started (claimed) that the read model has yet to see
        + [
            (a.label_id, None, None, None)
            for t in tasks
            for a in t.assignments
            if a.label_id not in in_model and a.label_id not in fresh
        ],
        conn,
    )
    current.update(fresh)
    projects: dict[str, ProjectState] = {}
    for t in tasks:
        if t.project_id in projects:
            continue
        try:
            projects[t.project_id] = deps.cached_project(t.project_id, ident.org_id, t.project_version) or (
                await deps.project(t.project_id, ident.org_id, conn=conn)
            )
        except NotFound:
            continue
    rows = await deps.data_rows(list({t.data_row_id for t in tasks}), ident.org_id, conn=conn)
    now = datetime.now(UTC)
    review_status = {a.label_id: a.label_status for t in tasks for a in t.assignments}
    labels_by_task: dict[str, list[LabelView]] = {}
    for label_id, view in current.items():
        if review_status.get(label_id) in REVIEW_STATUSES and view.status == "SUBMITTED":
            view = msgspec.structs.replace(view, status=review_status[label_id])
        labels_by_task.setdefault(view.task_id, []).append(view)
    out = []
    for t in tasks:
        project = projects.get(t.project_id)
        if project is None:
            continue
        sees_all = sees_all_labels(project, ident)
        mine = next((a for a in t.assignments if a.user_id == ident.user_id), None)
        if not sees_all and (mine is None or ident.user_id not in project.members):
            continue
        labels = labels_by_task.get(t.task_id, [])
        my_label = next((v for v in labels if v.author_id == ident.user_id), None)
        leases = [
            LeaseView(user_id=a.user_id, label_id=a.label_id, expires_at=a.lease_expires_at)
            for a in t.assignments
            if a.lease_expires_at is not None and a.lease_expires_at > now
        ]
        if not sees_all:
            leases = [x for x in leases if x.user_id == ident.user_id]
        lease = next((x for x in leases if x.user_id == ident.user_id), leases[0] if leases else None)
        rec = rows.get(t.data_row_id)
        out.append(
            TaskView(
                id=t.task_id,
                project_id=t.project_id,
                data_row_id=t.data_row_id,
                batch_id=t.batch_id,
                status=t.status,
                priority=t.priority,
                required_labels=t.required_labels,
                submitted_labels=t.submitted_labels,
                data_row=row_view(rec, my_label) if rec is not None else None,
                my_label=my_label,
                labels=labels if sees_all else ([my_label] if my_label is not None else []),
                leased_by=lease.user_id if lease else None,
                lease_expires_at=lease.expires_at if lease else None,
                leases=leases,
                created_at=t.created_at,
            )
        )
    return out


async def get_task(deps: Deps, ctx: CallContext, req: TaskRef) -> TaskView:
    ident = ctx.require_identity()
    views = await task_views(deps, ident, [req.task_id])
    if not views:
        await _raise_for_task(deps, ident, req.task_id)
    return views[0]


async def _raise_for_task(deps: Deps, ident: Identity, task_id: str) -> None:
    """NotFound for another org's or a missing task; Forbidden for a project member who may
    not see it."""
    project_id = await deps.pool.fetchval(
        "select project_id from labeling.tasks where task_id = $1 and org_id = $2", task_id, ident.org_id
    )
    if project_id is None:
        raise NotFound("task not found")
    project = await deps.project(project_id, ident.org_id)
    require(project, ident, Permission.SEE_ALL_LABELS)
    raise NotFound("task not found")


async def get_tasks(deps: Deps, ctx: CallContext, req: IdsRequest) -> list[TaskView]:
    """Batch get for DataLoaders: the visible tasks among ``ids`` (at most 500), any order."""
    return await task_views(deps, ctx.require_identity(), list(dict.fromkeys(req.ids))[:MAX_IDS])


async def list_tasks(deps: Deps, ctx: CallContext, req: ListTasksRequest) -> TaskPage:
    """A project's tasks in queue order (priority, then age), by status if given; reviewers
    and up see all, annotators the ones they have a label on."""
    ident = ctx.require_identity()
    project = await deps.project(req.project_id, ident.org_id)
    require(project, ident, Permission.SEE_PROJECT)
    first = max(1, min(req.first, 500))
    after = int(req.after) if req.after and req.after.isdigit() else 0
    sees_all = sees_all_labels(project, ident)
    sql, args = list_tasks_sql(req.project_id, after, req.status, None if sees_all else ident.user_id, first + 1)
    rows = await deps.pool.fetch(sql, *args)
    page = rows[:first]
    views = {v.id: v for v in await task_views(deps, ident, [r[0] for r in page])}
    items = [views[r[0]] for r in page if r[0] in views]
    has_next = len(rows) > first
    return TaskPage(items=items, next_cursor=str(page[-1][1]) if has_next else None, has_next_page=has_next)


def list_tasks_sql(
    project_id: str, after: int, status: str | None, author: str | None, limit: int
) -> tuple[str, list[object]]:
    """A page of a project's tasks after ``seq`` ``after``, in queue order: with only the
    filters given in the statement, so each shape keeps a plan that reads its index in order
    (``tasks_by_status`` with a status, ``tasks_project_seq`` without) instead of one plan
    for all, which could not use either. ``author``: only tasks they have a label on, read in
    the same order from their assignments (``assignments_author``, which keeps each task's
    ``seq``): the page costs the author's tasks, not the project's."""
    args: list[object] = [project_id, after]
    if author is None:
        where = ["t.project_id = $1", "t.seq > $2", *conditions(args, ("t.status = ${}", status))]
        source = "labeling.tasks t"
    else:
        # The task's status is a correlated scalar subquery on its primary key, as in the
        # claim (queue.py): a join could be planned to walk the project's tasks instead.
        where = [
            "t.project_id = $1",
            "t.seq > $2",
            *conditions(
                args,
                (
                    "(select s.status from labeling.tasks s where s.task_id = t.task_id) = ${}",
                    status,
                ),
                ("t.user_id = ${}", author),
            ),
        ]
        source = "labeling.assignments t"
    args.append(limit)
    return (
        f"select t.task_id, t.seq from {source} where {' and '.join(where)} order by t.seq limit ${len(args)}",
        args,
    )


async def label_views(deps: Deps, ident: Identity, ids: list[str]) -> list[LabelView]:
    rows = await deps.pool.fetch(
        "select a.label_id, l.view::text, l.version, "
        + version_sql("label", "a.label_id")
        + ", a.label_status from labeling.assignments a left join labeling.labels l on l.label_id = a.label_id"
        " where a.label_id = any($1::text[]) and a.org_id = $2",
        ids,
        ident.org_id,
    )
    status_of = {r[0]: r[4] for r in rows}
    views = await current_label_views(
        deps,
        ident.org_id,
        [(r[0], None if r[1] is None else _label_decoder.decode(r[1]), r[2], r[3]) for r in rows],
    )
    out = []
    for label_id, view in views.items():
        try:
            project = await deps.project(view.project_id, ident.org_id)
        except NotFound:
            continue
        if view.author_id != ident.user_id and not sees_all_labels(project, ident):
            continue
        status = status_of.get(label_id)
        if status in REVIEW_STATUSES and view.status == "SUBMITTED":
            view = msgspec.structs.replace(view, status=status)
        out.append(view)
    return out


async def get_label(deps: Deps, ctx: CallContext, req: LabelRef) -> LabelView:
    views = await label_views(deps, ctx.require_identity(), [req.label_id])
    if not views:
        raise NotFound("label not found")
    return views[0]


async def get_labels(deps: Deps, ctx: CallContext, req: IdsRequest) -> list[LabelView]:
    return await label_views(deps, ctx.require_identity(), list(dict.fromkeys(req.ids))[:MAX_IDS])


async def get_data_rows(deps: Deps, ctx: CallContext, req: IdsRequest) -> list[DataRowView]:
    """Rows (as imported) the caller may see: any of the org for org admins; else rows of
    tasks in projects where the caller reviews or up, or has a label."""
    ident = ctx.require_identity()
    ids = list(dict.fromkeys(req.ids))[:MAX_IDS]
    if not ident.is_admin:
        rows = await deps.pool.fetch(
            "select distinct t.data_row_id from labeling.tasks t join labeling.project_members m"
            " on m.project_id = t.project_id and m.user_id = $2"
            " where t.data_row_id = any($1::text[]) and t.org_id = $3 and (m.role in ('OWNER', 'MANAGER', 'REVIEWER')"
            " or exists (select 1 from labeling.assignments a where a.task_id = t.task_id and a.user_id = $2))",
            ids,
            ident.user_id,
            ident.org_id,
        )
        ids = [r[0] for r in rows]
    found = await deps.data_rows(ids, ident.org_id)
    return [row_view(rec, None) for rec in found.values()]
