"""Project commands and the project view: create, ontology, settings, members, batches."""

from __future__ import annotations

import uuid
from typing import Any

import msgspec

from preflog_contracts.envelope import stream_name
from preflog_contracts.errors import Conflict, Forbidden, Invalid, WrongExpectedVersion
from preflog_contracts.events.base import Event
from preflog_contracts.events.labels import TaskCreated
from preflog_contracts.events.projects import ProjectSettings, ProjectSettingsChanged
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.labeling import (
    AddDataRowsRequest,
    AddProjectMemberRequest,
    BatchView,
    CreateProjectRequest,
    ListProjectsRequest,
    MemberRemovedView,
    OntologyView,
    ProgressView,
    ProjectMemberView,
    ProjectPage,
    ProjectRef,
    ProjectView,
    RemoveProjectMemberRequest,
    UpdateOntologyRequest,
    UpdateProjectSettingsRequest,
)
from preflog_eventstore import NO_STREAM, StreamWrite
from preflog_labeling.domain import project as domain
from preflog_labeling.domain.roles import Permission
from preflog_labeling.handlers.access import require, role_in
from preflog_labeling.handlers.queue import release_leases_of, release_project_leases
from preflog_labeling.handlers.rows import resolve_rows
from preflog_labeling.handlers.state import Deps
from preflog_messaging import CallContext, once_per_key

RETRIES = 5
MAX_BATCH = 50_000


# The counts folded so far plus the deltas not folded yet (migration 0005): a few rows, however
# many tasks the project has.
_PROGRESS_SQL = (
    "select project_id, status, sum(n)::bigint from ("
    " select project_id, status, n from labeling.progress where project_id = any($1::text[])"
    " union all select project_id, status, n from labeling.progress_deltas"
    " where project_id = any($1::text[])"
    ") counted group by project_id, status"
)


async def progresses(deps: Deps, project_ids: list[str]) -> dict[str, ProgressView]:
    """Each project's tasks by status, for a page of projects in one statement."""
    counts: dict[str, dict[str, int]] = {p: {} for p in project_ids}
    for r in await deps.pool.fetch(_PROGRESS_SQL, project_ids):
        counts[r[0]][r[1]] = r[2]
    return {
        p: ProgressView(
            to_label=c.get("TO_LABEL", 0),
            in_review=c.get("IN_REVIEW", 0),
            in_rework=c.get("IN_REWORK", 0),
            done=c.get("DONE", 0),
            skipped=c.get("SKIPPED", 0),
        )
        for p, c in counts.items()
    }


async def progress(deps: Deps, project_id: str) -> ProgressView:
    return (await progresses(deps, [project_id]))[project_id]


async def project_view(deps: Deps, state: domain.ProjectState, my_role: str | None) -> ProjectView:
    return view_of(state, my_role, await progress(deps, state.project_id))


def view_of(state: domain.ProjectState, my_role: str | None, counts: ProgressView) -> ProjectView:
    return ProjectView(
        id=state.project_id,
        name=state.name,
        description=state.description,
        quality_mode=state.quality_mode,
        consensus_label_count=state.consensus_label_count,
        consensus_coverage=state.consensus_coverage,
        settings=state.settings,
        ontology=OntologyView(
            version=state.ontology_version, format=state.ontology_format, questions=list(state.questions)
        ),
        members=[ProjectMemberView(user_id=u, role=r) for u, r in sorted(state.members.items())],
        progress=counts,
        archived=state.archived,
        my_role=my_role,
    )


async def _visible(deps: Deps, ctx: CallContext, project_id: str) -> domain.ProjectState:
    ident = ctx.require_identity()
    state = await deps.project(project_id, ident.org_id)
    require(state, ident, Permission.SEE_PROJECT)
    return state


async def create_project(deps: Deps, ctx: CallContext, req: CreateProjectRequest) -> ProjectView:
    """Org admins only; the creator becomes the project's OWNER."""
    ident = ctx.require_identity()
    if not ident.is_admin:
        raise Forbidden("only org admins create projects")
    return await once_per_key(ctx, deps.store.stored_result, ProjectView, lambda: _create_project(deps, ctx, req))


async def _create_project(deps: Deps, ctx: CallContext, req: CreateProjectRequest) -> ProjectView:
    ident = ctx.require_identity()
    project_id = str(uuid.uuid4())
    settings = domain.apply_settings_patch(ProjectSettings(), req.settings)
    events = domain.decide_create(
        project_id=project_id,
        owner_id=ident.user_id,
        name=req.name,
        description=req.description,
        quality_mode=req.quality_mode,
        consensus_label_count=req.consensus_label_count,
        consensus_coverage=req.consensus_coverage,
        settings=settings,
        ontology=req.ontology,
    )
    state = domain.fold(domain.ProjectState(project_id=project_id), list(enumerate(events)))
    view = await project_view(deps, state, "OWNER")
    result = await deps.store.append(
        StreamWrite(stream_name("project", project_id), events, NO_STREAM),
        org_id=ident.org_id,
        metadata=ctx.metadata("ADMIN", project_id=project_id),
        idempotency_key=ctx.idempotency_key,
        result=msgspec.to_builtins(view),
    )
    if result.duplicate:
        return msgspec.convert(result.result, ProjectView)
    deps.remember_project(ident.org_id, state)
    return view


async def get_project(deps: Deps, ctx: CallContext, req: ProjectRef) -> ProjectView:
    state = await _visible(deps, ctx, req.project_id)
    return await project_view(deps, state, role_in(state, ctx.require_identity()))


async def list_projects(deps: Deps, ctx: CallContext, req: ListProjectsRequest) -> ProjectPage:
    """Projects the caller is a member of (every project of the org for org admins), the
    archived ones only when asked. A page may then hold fewer than ``first``; its cursor
    still moves on."""
    ident = ctx.require_identity()
    first = max(1, min(req.first, 500))
    after = req.after or ""
    sql, args = list_projects_sql(ident, after, first + 1)
    rows = await deps.pool.fetch(sql, *args)
    ids = [r[0] for r in rows]
    # The page's projects as this process has them, where they are current (one statement
    # for every stream's version), each other one loaded; then every progress at once.
    states = await deps.current_projects(ids[:first], ident.org_id)
    visible = []
    for pid in ids[:first]:
        state = states.get(pid) or await deps.project(pid, ident.org_id)
        role = role_in(state, ident)
        if role is None:
            continue  # removed from it since the index (a projection) was written
        if state.archived and not req.include_archived:
            continue
        visible.append((state, role))
    counts = await progresses(deps, [state.project_id for state, _ in visible])
    items = [view_of(state, role, counts[state.project_id]) for state, role in visible]
    return ProjectPage(
        items=items, next_cursor=ids[first - 1] if len(ids) > first else None, has_next_page=len(ids) > first
    )


def list_projects_sql(ident: Identity, after: str, limit: int) -> tuple[str, list[object]]:
    """A page of project ids after ``after``, in id order, read in that order from an index:
    every project of the org for org admins (``projects_org_id``), else the caller's
    memberships (``project_members_user_projects``): a member's page costs their projects,
    not the org's."""
    if ident.is_admin:
        return (
            "select project_id from labeling.projects where org_id = $1 and project_id > $2"
            " order by project_id limit $3",
            [ident.org_id, after, limit],
        )
    return (
        "select project_id from labeling.project_members where org_id = $1 and user_id = $2"
        " and project_id > $3 order by project_id limit $4",
        [ident.org_id, ident.user_id, after, limit],
    )


async def _change_project(
    deps: Deps, ctx: CallContext, project_id: str, permission: Permission, decide: Any
) -> ProjectView:
    """Load, check the role, decide, append at the expected version; retry on a race."""
    return await once_per_key(
        ctx,
        deps.store.stored_result,
        ProjectView,
        lambda: _change_project_once(deps, ctx, project_id, permission, decide),
    )


async def _change_project_once(
    deps: Deps, ctx: CallContext, project_id: str, permission: Permission, decide: Any
) -> ProjectView:
    ident = ctx.require_identity()
    for _ in range(RETRIES):
        state = await deps.project(project_id, ident.org_id)
        role = require(state, ident, permission)
        events: list[Event] = decide(state, ident)
        new_state = domain.fold(state, [(state.version + 1 + i, e) for i, e in enumerate(events)])
        view = await project_view(deps, new_state, role_in(new_state, ident))
        if not events:
            return view
        try:
            result = await deps.store.append(
                StreamWrite(stream_name("project", project_id), events, state.version),
                org_id=ident.org_id,
                metadata=ctx.metadata(role, project_id=project_id),
                idempotency_key=ctx.idempotency_key,
                result=msgspec.to_builtins(view),
            )
        except WrongExpectedVersion:
            continue
        if result.duplicate:
            return msgspec.convert(result.result, ProjectView)
        deps.remember_project(ident.org_id, new_state)
        return view
    raise Conflict("the project changed concurrently; retry")


async def update_ontology(deps: Deps, ctx: CallContext, req: UpdateOntologyRequest) -> ProjectView:
    return await _change_project(
        deps, ctx, req.project_id, Permission.CONFIGURE, lambda s, _i: [domain.decide_ontology(s, req.ontology)]
    )


async def update_project_settings(deps: Deps, ctx: CallContext, req: UpdateProjectSettingsRequest) -> ProjectView:
    def decide(state: domain.ProjectState, _ident: Any) -> list[Event]:
        settings = domain.apply_settings_patch(state.settings, req.settings)
        if settings == state.settings:
            return []
        return [ProjectSettingsChanged(project_id=state.project_id, settings=settings)]

    return await _change_project(deps, ctx, req.project_id, Permission.CONFIGURE, decide)


async def archive_project(deps: Deps, ctx: CallContext, req: ProjectRef) -> ProjectView:
    """Owners and org admins archive a project: no more claims, label actions or new rows
    (reviews, exports and reads go on), and the open leases end (drafts stay their authors').
    Archiving an archived project changes nothing."""
    view = await _change_project(
        deps, ctx, req.project_id, Permission.CHANGE_OWNERS, lambda s, _i: domain.decide_archived(s, True)
    )
    # After the archive committed: no claim commits any more, so nothing is leased again.
    await release_project_leases(deps, req.project_id, ctx)
    return view


async def unarchive_project(deps: Deps, ctx: CallContext, req: ProjectRef) -> ProjectView:
    """Owners and org admins bring an archived project back; its work goes on."""
    return await _change_project(
        deps, ctx, req.project_id, Permission.CHANGE_OWNERS, lambda s, _i: domain.decide_archived(s, False)
    )


async def add_project_member(deps: Deps, ctx: CallContext, req: AddProjectMemberRequest) -> ProjectMemberView:
    """Managers manage members; making or unmaking an OWNER takes an owner or org admin."""

    def decide(state: domain.ProjectState, ident: Any) -> list[Event]:
        if "OWNER" in (req.role, state.members.get(req.user_id)):
            require(state, ident, Permission.CHANGE_OWNERS)
        return domain.decide_member(state, req.user_id, req.role)

    await _change_project(deps, ctx, req.project_id, Permission.MANAGE_MEMBERS, decide)
    return ProjectMemberView(user_id=req.user_id, role=req.role)


async def remove_project_member(deps: Deps, ctx: CallContext, req: RemoveProjectMemberRequest) -> MemberRemovedView:
    """Managers remove members (an owner takes an owner or org admin); the member's open
    leases in the project go back to the queue, their labels stay."""

    def decide(state: domain.ProjectState, ident: Any) -> list[Event]:
        if state.members.get(req.user_id) == "OWNER":
            require(state, ident, Permission.CHANGE_OWNERS)
        return domain.decide_member_removal(state, req.user_id)

    await _change_project(deps, ctx, req.project_id, Permission.MANAGE_MEMBERS, decide)
    # After the removal committed: the member can no longer claim, so nothing re-leases.
    released = await release_leases_of(deps, req.project_id, req.user_id, ctx)
    return MemberRemovedView(project_id=req.project_id, user_id=req.user_id, released_leases=released)


async def add_data_rows_to_project(deps: Deps, ctx: CallContext, req: AddDataRowsRequest) -> BatchView:
    """One batch: BatchCreated and a TaskCreated per new row, and the queue rows, in one
    transaction. Rows already in the project are left out; unknown rows are refused."""
    return await once_per_key(ctx, deps.store.stored_result, BatchView, lambda: _add_data_rows(deps, ctx, req))


async def _add_data_rows(deps: Deps, ctx: CallContext, req: AddDataRowsRequest) -> BatchView:
    ident = ctx.require_identity()
    given = [x is not None for x in (req.data_row_ids, req.global_keys, req.dataset_id)]
    if sum(given) != 1:
        raise Invalid("name the rows one way", {"data_row_ids": "give data_row_ids, global_keys or dataset_id"})
    for _ in range(RETRIES):
        state = await deps.project(req.project_id, ident.org_id)
        role = require(state, ident, Permission.MANAGE_DATA)
        domain.check_not_archived(state, "no rows are added to it")
        row_ids = await resolve_rows(deps, ctx, ident.org_id, req)
        if len(row_ids) > MAX_BATCH:
            raise Invalid("batch too large", {"data_row_ids": f"at most {MAX_BATCH} rows per batch"})
        async with deps.pool.acquire() as conn, conn.transaction():
            existing = {
                r[0]
                for r in await conn.fetch(
                    "select data_row_id from labeling.tasks where project_id = $1 and data_row_id = any($2::text[])",
                    req.project_id,
                    row_ids,
                )
            }
            new_rows = [r for r in row_ids if r not in existing]
            batch_id = str(uuid.uuid4())
            tasks = [(str(uuid.uuid4()), r, domain.required_labels(state, r)) for r in new_rows]
            view = BatchView(
                id=batch_id,
                project_id=req.project_id,
                size=len(tasks),
                priority=req.priority,
                task_ids=[t[0] for t in tasks],
            )
            writes = [
                StreamWrite(
                    stream_name("project", req.project_id),
                    [domain.batch_event(state, batch_id, new_rows, req.priority)],
                    state.version,
                )
            ]
            writes += [
                StreamWrite(
                    stream_name("task", tid),
                    [
                        TaskCreated(
                            task_id=tid,
                            project_id=req.project_id,
                            data_row_id=rid,
                            batch_id=batch_id,
                            priority=req.priority,
                            required_labels=need,
                        )
                    ],
                    NO_STREAM,
                )
                for tid, rid, need in tasks
            ]
            try:
                result = await deps.store.append(
                    writes,
                    org_id=ident.org_id,
                    metadata=ctx.metadata(role, project_id=req.project_id),
                    idempotency_key=ctx.idempotency_key,
                    result=msgspec.to_builtins(view),
                    conn=conn,
                )
            except WrongExpectedVersion:
                continue
            if result.duplicate:
                return msgspec.convert(result.result, BatchView)
            # One statement: the queue's generation (migration 0010) is bumped once per batch.
            await conn.execute(
                "insert into labeling.tasks (task_id, org_id, project_id, data_row_id, batch_id, priority,"
                " required_labels) select t, $4::uuid, $5, r, $6, $7, n"
                " from unnest($1::text[], $2::text[], $3::int[]) as u (t, r, n)",
                [tid for tid, _, _ in tasks],
                [rid for _, rid, _ in tasks],
                [need for _, _, need in tasks],
                ident.org_id,
                req.project_id,
                batch_id,
                req.priority,
            )
        return view
    raise Conflict("the project changed concurrently; retry")
