"""The review read model: one ``apply_event`` for every event the service learns from.

Foreign events (projects, members, tasks, labels, data rows) arrive through the JetStream
intake; review's own events (workflow, issues) through the log projection; a rebuild replays
both from the log. Where the two feeds could interleave differently, status columns keep the
global position of the event that set them and only a later event overwrites them, and
scores are recomputed from current facts (see ``scoring``), so every path ends in the same
tables.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from datetime import datetime

import msgspec

from preflog_contracts.datarow import DataRow
from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.base import Event
from preflog_contracts.events.catalog import DataRowImported
from preflog_contracts.events.labels import LabelStarted, LabelSubmitted, TaskCreated, TaskLeased
from preflog_contracts.events.projects import (
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    OntologyUpdated,
    ProjectCreated,
    ProjectSettingsChanged,
)
from preflog_contracts.events.review import (
    DROPPED_POSITION,
    BenchmarkReferenceSet,
    IssueCommented,
    IssueOpened,
    IssueResolved,
    LabelApproved,
    LabelRejected,
    MarkedForReview,
    TaskStatusChanged,
)
from preflog_eventstore.conn import Conn
from preflog_review.adapters.scoring import (
    encode,
    recount_outcomes,
    rescore_benchmark,
    rescore_task,
)
from preflog_review.adapters.tables import Tables

FOREIGN_CATEGORIES = ("project", "task", "label", "datarow")
OWN_CATEGORIES = ("workflow", "issue")


def decode(rec: RecordedEvent) -> Event | None:
    """The event in ``rec``, or None for a type this build does not know."""
    try:
        return decode_event_data(rec.event_type, rec.schema_version, rec.data)
    except KeyError:
        return None


async def apply_event(conn: Conn, t: Tables, rec: RecordedEvent, event: Event) -> None:
    """Fold one event into the tables ``t`` (idempotent per event; the caller dedupes)."""
    handler = _HANDLERS.get(type(event))
    if handler is not None:
        await handler(conn, t, rec, event)


# ---- learned from labeling and ingest ---------------------------------------------------


async def _project_created(conn: Conn, t: Tables, rec: RecordedEvent, e: ProjectCreated) -> None:
    await conn.execute(
        f"insert into {t.projects} (project_id, org_id, quality_mode, consensus_label_count,"
        " consensus_coverage, review_required, rank_mode) values ($1, $2, $3, $4, $5, $6, $7)"
        " on conflict do nothing",
        e.project_id,
        rec.org_id,
        e.quality_mode,
        e.consensus_label_count,
        e.consensus_coverage,
        e.settings.review_required,
        e.settings.rank_mode,
    )
    if e.owner_id:
        await _set_member(conn, t, rec, e.project_id, e.owner_id, "OWNER")


async def _ontology_updated(conn: Conn, t: Tables, rec: RecordedEvent, e: OntologyUpdated) -> None:
    await conn.execute(
        f"update {t.projects} set questions = $2::jsonb where project_id = $1",
        e.project_id,
        encode(e.questions),
    )


async def _settings_changed(
    conn: Conn, t: Tables, rec: RecordedEvent, e: ProjectSettingsChanged
) -> None:
    await conn.execute(
        f"update {t.projects} set review_required = $2, rank_mode = $3 where project_id = $1",
        e.project_id,
        e.settings.review_required,
        e.settings.rank_mode,
    )


async def _set_member(
    conn: Conn,
    t: Tables,
    rec: RecordedEvent,
    project_id: str,
    user_id: str,
    role: str,
) -> None:
    await conn.execute(
        f"insert into {t.members} (project_id, user_id, org_id, role) values ($1, $2, $3, $4)"
        " on conflict (project_id, user_id) do update set role = excluded.role",
        project_id,
        user_id,
        rec.org_id,
        role,
    )


async def _member_removed(conn: Conn, t: Tables, rec: RecordedEvent, e: MemberRemoved) -> None:
    await conn.execute(
        f"delete from {t.members} where project_id = $1 and user_id = $2", e.project_id, e.user_id
    )


async def _member_added(
    conn: Conn, t: Tables, rec: RecordedEvent, e: MemberAdded | MemberRoleChanged
) -> None:
    await _set_member(conn, t, rec, e.project_id, e.user_id, e.role)


async def _data_row_imported(conn: Conn, t: Tables, rec: RecordedEvent, e: DataRowImported) -> None:
    # Scoring needs prompts and responses only; messages stay with ingest and labeling.
    row = DataRow(messages=[], prompts=e.row.prompts)
    await conn.execute(
        f"insert into {t.data_rows} (data_row_id, org_id, row) values ($1, $2, $3::jsonb)"
        " on conflict do nothing",
        e.data_row_id,
        rec.org_id,
        encode(row),
    )


async def _task_created(conn: Conn, t: Tables, rec: RecordedEvent, e: TaskCreated) -> None:
    await conn.execute(
        f"insert into {t.tasks} (task_id, org_id, project_id, data_row_id, priority, created_at,"
        " status_changed_at) values ($1, $2, $3, $4, $5, $6, $6) on conflict do nothing",
        e.task_id,
        rec.org_id,
        e.project_id,
        e.data_row_id,
        e.priority,
        rec.recorded_at,
    )


async def _ensure_label(
    conn: Conn,
    t: Tables,
    rec: RecordedEvent,
    label_id: str,
    task_id: str,
    project_id: str,
    data_row_id: str,
    author_id: str,
    leased_at: datetime | None = None,
) -> None:
    """The label's row, made or filled in, in one statement: an empty ``data_row_id`` is taken
    from the task's row when there is one; ``leased_at``, when given, is set."""
    await conn.execute(
        f"insert into {t.labels} as l"
        " (label_id, org_id, project_id, task_id, data_row_id, author_id, leased_at)"
        " values ($1, $2, $3, $4, coalesce(nullif($5, ''),"
        f" (select k.data_row_id from {t.tasks} k where k.task_id = $4), ''),"
        " $6, $7) on conflict (label_id) do update set"
        " data_row_id = case when excluded.data_row_id = '' then l.data_row_id"
        " else excluded.data_row_id end,"
        " author_id = case when excluded.author_id = '' then l.author_id"
        " else excluded.author_id end,"
        " leased_at = coalesce(excluded.leased_at, l.leased_at)",
        label_id,
        rec.org_id,
        project_id,
        task_id,
        data_row_id,
        author_id,
        leased_at,
    )


async def _task_leased(conn: Conn, t: Tables, rec: RecordedEvent, e: TaskLeased) -> None:
    await _ensure_label(
        conn, t, rec, e.label_id, e.task_id, e.project_id, "", e.user_id, leased_at=rec.recorded_at
    )


async def _label_started(conn: Conn, t: Tables, rec: RecordedEvent, e: LabelStarted) -> None:
    await _ensure_label(
        conn, t, rec, e.label_id, e.task_id, e.project_id, e.data_row_id, e.author_id
    )


async def _label_submitted(conn: Conn, t: Tables, rec: RecordedEvent, e: LabelSubmitted) -> None:
    await _ensure_label(
        conn, t, rec, e.label_id, e.task_id, e.project_id, e.data_row_id, e.author_id
    )
    changed = await conn.fetchrow(
        f"update {t.labels} set snapshot = $2::jsonb, submitted_position = $3,"
        " submitted_at = $4,"
        " seconds_to_label = extract(epoch from ($4 - coalesce($5, leased_at))),"
        " status = case when status_position < $3 then 'SUBMITTED' else status end,"
        " status_position = greatest(status_position, $3),"
        " rejection_reason = case when status_position < $3 then '' else rejection_reason end"
        " where label_id = $1 and submitted_position < $3"
        " returning task_id, project_id, data_row_id",
        e.label_id,
        encode(e.snapshot),
        rec.global_position,
        rec.recorded_at,
        e.leased_at,
    )
    if changed is not None:
        await _rescore_label(conn, t, e.label_id, *changed)


async def _rescore_label(
    conn: Conn, t: Tables, label_id: str, task_id: str, project_id: str, data_row_id: str
) -> None:
    await rescore_task(conn, t, task_id)
    await rescore_benchmark(conn, t, project_id, data_row_id, label_id)
    await recount_outcomes(conn, t, label_id)


# ---- review's own events ----------------------------------------------------------------


async def _status_changed(conn: Conn, t: Tables, rec: RecordedEvent, e: TaskStatusChanged) -> None:
    await conn.execute(
        f"update {t.tasks} set status = $2, status_position = $3, status_changed_at = $4,"
        " status_reason = $5 where task_id = $1 and status_position < $3",
        e.task_id,
        e.to_status,
        rec.global_position,
        rec.recorded_at,
        e.reason,
    )
    if e.dropped_label_ids:
        await _drop_labels(conn, t, e.task_id, e.dropped_label_ids)


async def _drop_labels(conn: Conn, t: Tables, task_id: str, label_ids: list[str]) -> None:
    """Labels dropped by a requeue from rework: REJECTED for good, and out of the scores if
    they still counted (a resubmission that reached us before the drop)."""
    counted = await conn.fetchval(
        f"with old as (select label_id, status from {t.labels}"
        "   where label_id = any($1::text[]) and status_position < $2 for update),"
        f" upd as (update {t.labels} l set status = 'REJECTED', status_position = $2"
        "   from old where l.label_id = old.label_id returning old.label_id, old.status)"
        " select coalesce(array_agg(label_id) filter (where status <> 'REJECTED'), '{}')"
        " from upd",
        label_ids,
        DROPPED_POSITION,
    )
    if counted:
        await rescore_task(conn, t, task_id)
        for label_id in counted:
            await recount_outcomes(conn, t, label_id)


async def _record_review(
    conn: Conn,
    t: Tables,
    rec: RecordedEvent,
    kind: str,
    project_id: str,
    task_id: str,
    label_id: str,
    comment: str = "",
    target: object = None,
    question_id: str | None = None,
) -> None:
    await conn.execute(
        f"insert into {t.reviews} (event_id, org_id, project_id, task_id, label_id, kind,"
        " actor_id, at, global_position, comment, target, question_id)"
        " values ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11::jsonb, $12)"
        " on conflict do nothing",
        rec.event_id,
        rec.org_id,
        project_id,
        task_id,
        label_id,
        kind,
        rec.metadata.actor_id,
        rec.recorded_at,
        rec.global_position,
        comment,
        encode(target) if target is not None else "{}",
        question_id,
    )


async def _set_label_status(
    conn: Conn, t: Tables, rec: RecordedEvent, label_id: str, status: str, reason: str
) -> bool:
    changed = await conn.fetchval(
        f"update {t.labels} set status = $2, status_position = $3, rejection_reason = $4"
        " where label_id = $1 and status_position < $3 returning 1",
        label_id,
        status,
        rec.global_position,
        reason,
    )
    return bool(changed)


async def _label_approved(conn: Conn, t: Tables, rec: RecordedEvent, e: LabelApproved) -> None:
    await _set_label_status(conn, t, rec, e.label_id, "APPROVED", "")
    await _record_review(conn, t, rec, "APPROVED", e.project_id, e.task_id, e.label_id, e.comment)
    # SUBMITTED -> APPROVED keeps the label counting: no score changes.


async def _label_rejected(conn: Conn, t: Tables, rec: RecordedEvent, e: LabelRejected) -> None:
    changed = await _set_label_status(conn, t, rec, e.label_id, "REJECTED", e.reason)
    await _record_review(conn, t, rec, "REJECTED", e.project_id, e.task_id, e.label_id, e.reason)
    if changed:
        await rescore_task(conn, t, e.task_id)
        await recount_outcomes(conn, t, e.label_id)


async def _marked(conn: Conn, t: Tables, rec: RecordedEvent, e: MarkedForReview) -> None:
    await _record_review(
        conn,
        t,
        rec,
        "MARKED_FOR_REVIEW",
        e.project_id,
        e.task_id,
        e.label_id,
        e.note,
        e.target,
        e.question_id,
    )


async def _reference_set(
    conn: Conn, t: Tables, rec: RecordedEvent, e: BenchmarkReferenceSet
) -> None:
    await _record_review(conn, t, rec, "BENCHMARK_REFERENCE", e.project_id, e.task_id, e.label_id)
    previous = await conn.fetchrow(
        f"select label_id, position from {t.reference_labels}"
        " where project_id = $1 and data_row_id = $2 for update",
        e.project_id,
        e.data_row_id,
    )
    if previous is not None and previous["position"] >= rec.global_position:
        return
    await conn.execute(
        f"insert into {t.reference_labels} (project_id, data_row_id, label_id, position)"
        " values ($1, $2, $3, $4) on conflict (project_id, data_row_id) do update"
        " set label_id = excluded.label_id, position = excluded.position",
        e.project_id,
        e.data_row_id,
        e.label_id,
        rec.global_position,
    )
    old = previous["label_id"] if previous is not None else None
    await conn.execute(
        f"update {t.labels} set is_reference = (label_id = $1) where label_id = any($2::text[])",
        e.label_id,
        [e.label_id] + ([old] if old else []),
    )
    await rescore_benchmark(conn, t, e.project_id, e.data_row_id)
    tasks = await conn.fetch(
        f"select distinct task_id from {t.labels} where label_id = any($1::text[]) order by 1",
        [e.label_id] + ([old] if old else []),
    )
    for task in tasks:
        await rescore_task(conn, t, task["task_id"])


async def _issue_opened(conn: Conn, t: Tables, rec: RecordedEvent, e: IssueOpened) -> None:
    await conn.execute(
        f"insert into {t.issues} (issue_id, org_id, project_id, task_id, label_id, target,"
        " question_id, body, author_id, created_at) values"
        " ($1, $2, $3, $4, $5, $6::jsonb, $7, $8, $9, $10) on conflict do nothing",
        e.issue_id,
        rec.org_id,
        e.project_id,
        e.task_id,
        e.label_id,
        encode(e.target),
        e.question_id,
        e.body,
        rec.metadata.actor_id,
        rec.recorded_at,
    )


class _StoredComment(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    body: str
    author_id: str
    created_at: str


async def _issue_commented(conn: Conn, t: Tables, rec: RecordedEvent, e: IssueCommented) -> None:
    comment = _StoredComment(
        id=e.comment_id,
        body=e.body,
        author_id=rec.metadata.actor_id,
        created_at=rec.recorded_at.isoformat(),
    )
    await conn.execute(
        f"update {t.issues} set comments = comments || jsonb_build_array($2::jsonb)"
        " where issue_id = $1",
        e.issue_id,
        encode(comment),
    )


async def _issue_resolved(conn: Conn, t: Tables, rec: RecordedEvent, e: IssueResolved) -> None:
    await conn.execute(
        f"update {t.issues} set status = 'RESOLVED', resolution = $2, resolved_by = $3"
        " where issue_id = $1",
        e.issue_id,
        e.resolution,
        rec.metadata.actor_id,
    )


_HANDLERS: dict[type[Event], Callable[..., Awaitable[None]]] = {
    ProjectCreated: _project_created,
    OntologyUpdated: _ontology_updated,
    ProjectSettingsChanged: _settings_changed,
    MemberAdded: _member_added,
    MemberRoleChanged: _member_added,
    MemberRemoved: _member_removed,
    DataRowImported: _data_row_imported,
    TaskCreated: _task_created,
    TaskLeased: _task_leased,
    LabelStarted: _label_started,
    LabelSubmitted: _label_submitted,
    TaskStatusChanged: _status_changed,
    LabelApproved: _label_approved,
    LabelRejected: _label_rejected,
    MarkedForReview: _marked,
    BenchmarkReferenceSet: _reference_set,
    IssueOpened: _issue_opened,
    IssueCommented: _issue_commented,
    IssueResolved: _issue_resolved,
}
HANDLED_TYPES: frozenset[str] = frozenset(t.__name__ for t in _HANDLERS)
"""The event types :func:`apply_event` folds (others change nothing)."""
