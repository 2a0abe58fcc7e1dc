"""Time travel and audit for one task: its state at a moment, and its events in order."""

from __future__ import annotations

from typing import Any

import msgspec

from preflog_contracts.envelope import RecordedEvent, stream_name
from preflog_contracts.errors import NotFound
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.base import Event
from preflog_contracts.events.labels import TaskLeased
from preflog_contracts.rpc.labeling import HistoryEntry, LeaseView, TaskAsOfRequest, TaskRef, TaskView
from preflog_labeling.domain import task as task_domain
from preflog_labeling.domain.label_view import label_view
from preflog_labeling.domain.roles import Permission, is_allowed
from preflog_labeling.handlers.access import require
from preflog_labeling.handlers.reads import row_view
from preflog_labeling.handlers.state import Deps
from preflog_messaging import CallContext

_any: msgspec.json.Decoder[Any] = msgspec.json.Decoder()
REVIEW_TYPES = ["TaskStatusChanged", "LabelApproved", "LabelRejected"]


def _decoded(rec: RecordedEvent) -> Event:
    return decode_event_data(rec.event_type, rec.schema_version, rec.data)


async def task_as_of(deps: Deps, ctx: CallContext, req: TaskAsOfRequest) -> TaskView | None:
    """The task as it was at ``req.at``: the fold of the task's stream, its labels' streams
    and review's status changes recorded up to then (None if it did not exist yet)."""
    ident = ctx.require_identity()
    recs = await deps.store.read_stream(stream_name("task", req.task_id), until=req.at, org_id=ident.org_id)
    if not recs:
        exists = await deps.pool.fetchval(
            "select 1 from labeling.tasks where task_id = $1 and org_id = $2", req.task_id, ident.org_id
        )
        if exists is None:
            raise NotFound("task not found")
        return None
    own = [(rec, _decoded(rec)) for rec in recs]
    project_id = getattr(own[0][1], "project_id", "")
    project = await deps.project(project_id, ident.org_id, until=req.at)
    sees_all = is_allowed(project.members.get(ident.user_id), ident.is_admin, Permission.SEE_ALL_LABELS)
    current = await deps.project(project_id, ident.org_id)
    require(current, ident, Permission.SEE_PROJECT)
    review = await deps.store.query(
        org_id=ident.org_id, task_id=req.task_id, types=REVIEW_TYPES, until=req.at, limit=10_000
    )
    # The task's own stream names its labels (TaskLeased); then the task is folded from its
    # own events, its labels' submissions and review's, in log order, as its read model
    # applied them (a review reaction is judged against the own events before it).
    authors = {event.label_id: event.user_id for _, event in own if isinstance(event, TaskLeased)}
    if not sees_all and ident.user_id not in authors.values():
        raise NotFound("task not found")
    labels = {}
    merged = own + [(rec, _decoded(rec)) for rec in review]
    for label_id in authors:
        try:
            labels[label_id] = await deps.label(label_id, ident.org_id, until=req.at)
        except NotFound:
            continue
        for rec in await deps.store.read_stream(stream_name("label", label_id), until=req.at, org_id=ident.org_id):
            if rec.event_type == "LabelSubmitted":
                merged.append((rec, _decoded(rec)))
    state = task_domain.TaskState(task_id=req.task_id)
    for rec, event in sorted(merged, key=lambda pair: pair[0].global_position):
        state = task_domain.evolve(
            state,
            event,
            rec.recorded_at,
            project.settings.review_required,
            event_id=rec.event_id,
            metadata=rec.metadata,
        )
    views = [
        label_view(s, status=state.label_status.get(lid))
        for lid, s in labels.items()
        if sees_all or s.author_id == ident.user_id
    ]
    mine = next((v for v in views if v.author_id == ident.user_id), None)
    rows = await deps.data_rows([state.data_row_id], ident.org_id)
    rec_row = rows.get(state.data_row_id)
    leases = [
        LeaseView(user_id=u, label_id=lease.label_id, expires_at=lease.expires_at)
        for u, lease in state.leases.items()
        if lease.expires_at > req.at
    ]
    lease = next((x for x in leases if x.user_id == ident.user_id), leases[0] if leases else None)
    return TaskView(
        id=req.task_id,
        project_id=state.project_id,
        data_row_id=state.data_row_id,
        batch_id=state.batch_id,
        status=state.status,
        priority=state.priority,
        required_labels=state.required_labels,
        submitted_labels=len(state.submitted),
        data_row=row_view(rec_row, mine) if rec_row else None,
        my_label=mine,
        labels=views,
        leased_by=lease.user_id if lease else None,
        lease_expires_at=lease.expires_at if lease else None,
        leases=leases if sees_all else [],
        created_at=state.created_at,
    )


async def task_history(deps: Deps, ctx: CallContext, req: TaskRef) -> list[HistoryEntry]:
    """Every event scoped to the task (its own, its labels', review's), oldest first.

    Annotators see the history of tasks they have a label on; reviewers and up any task."""
    ident = ctx.require_identity()
    row = await deps.pool.fetchrow(
        "select project_id from labeling.tasks where task_id = $1 and org_id = $2", req.task_id, ident.org_id
    )
    if row is None:
        raise NotFound("task not found")
    project = await deps.project(row[0], ident.org_id)
    if not is_allowed(project.members.get(ident.user_id), ident.is_admin, Permission.SEE_ALL_LABELS):
        mine = await deps.pool.fetchval(
            "select 1 from labeling.assignments where task_id = $1 and user_id = $2", req.task_id, ident.user_id
        )
        if mine is None:
            require(project, ident, Permission.SEE_ALL_LABELS)
    # TaskCreated is appended with its batch (metadata scoped to the project only), so the
    # task's own stream is read beside the audit query by task id.
    recs = {r.event_id: r for r in await deps.store.read_stream(stream_name("task", req.task_id), org_id=ident.org_id)}
    after = 0
    while True:
        page = await deps.store.query(org_id=ident.org_id, task_id=req.task_id, after_position=after, limit=1000)
        recs.update((r.event_id, r) for r in page)
        if len(page) < 1000:
            break
        after = page[-1].global_position
    return [
        HistoryEntry(
            event_id=r.event_id,
            type=r.event_type,
            stream_name=r.stream_name,
            position=r.global_position,
            occurred_at=r.recorded_at,
            actor_id=r.metadata.actor_id,
            actor_role=r.metadata.actor_role,
            data=_any.decode(r.data),
            correlation_id=r.metadata.correlation_id,
        )
        for r in sorted(recs.values(), key=lambda r: r.global_position)
    ]
