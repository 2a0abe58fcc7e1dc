"""The task queue: claim, release, skip, requeue, and expiring leases.

The queue rows (labeling.tasks, labeling.assignments) change in the same transaction as the
events that say so; ``for update skip locked`` keeps two claimers off the same row.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime, timedelta

import asyncpg
import msgspec
import structlog

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.errors import Conflict, Forbidden, Invalid, NotFound, WrongExpectedVersion
from preflog_contracts.events.base import Event
from preflog_contracts.events.labels import (
    LabelStarted,
    PreLabelsApplied,
    TaskLeased,
    TaskReleased,
    TaskRequeued,
    TaskSkipped,
)
from preflog_contracts.identity import SYSTEM_ACTOR, Identity
from preflog_contracts.rpc.labeling import LeaseView, ProjectRef, SkipTaskRequest, TaskRef, TaskView
from preflog_eventstore import ANY, NO_STREAM, StreamWrite, every
from preflog_labeling.domain import label as label_domain
from preflog_labeling.domain.label_view import label_view
from preflog_labeling.domain.project import ProjectState, check_not_archived
from preflog_labeling.domain.roles import Permission, is_allowed
from preflog_labeling.handlers.access import require
from preflog_labeling.handlers.actions import RETRIES, TASK_ROW_LOCK, ActionFacts
from preflog_labeling.handlers.reads import row_view, sees_all_labels, task_views
from preflog_labeling.handlers.state import ROW_COLUMNS, Conn, Deps, version_sql
from preflog_messaging import CallContext, once_per_key

log = structlog.get_logger(__name__)
_prelabel_decoder = msgspec.json.Decoder(list[dict])  # type: ignore[type-arg]


async def _one_view(deps: Deps, ctx: CallContext, task_id: str, **kw: object) -> TaskView:
    views = await task_views(deps, ctx.require_identity(), [task_id], **kw)  # type: ignore[arg-type]
    if not views:
        raise NotFound("task not found")
    return views[0]


async def claim_next_task(deps: Deps, ctx: CallContext, req: ProjectRef) -> TaskView | None:
    """The caller's current lease in the project if any; else the highest-priority, then
    oldest, open task that still needs a label and that the caller has not labelled or
    skipped. None when nothing is left for the caller."""
    ident = ctx.require_identity()

    async def claim() -> TaskView | None:
        for _ in range(RETRIES):
            project = await _claim_project(deps, ident, req.project_id)
            try:
                return await _claim(deps, ctx, ident, project)
            except WrongExpectedVersion:  # the project moved since the state we decided on
                deps.projects.pop(req.project_id)
        raise Conflict("the project changed concurrently; retry")

    return await once_per_key(ctx, deps.store.stored_result, TaskView | None, claim)


async def _keep_result(deps: Deps, ctx: CallContext, view: TaskView | None, conn: Conn) -> TaskView | None:
    """``view``, stored under the call's idempotency key (if any) in its transaction: these
    commands answer with what they read after their append, so the append goes without it."""
    if ctx.idempotency_key is not None:
        ident = ctx.require_identity()
        await deps.store.keep_result(
            ident.org_id, ident.user_id, ctx.idempotency_key, msgspec.to_builtins(view), conn=conn
        )
    return view


async def _claim_project(deps: Deps, ident: Identity, project_id: str) -> ProjectState:
    """The project a claim is decided on: the state this process has cached, which the
    claim's append guards, or the current one when there is none or the cached one would
    refuse (a refusal is never based on a cached state)."""
    project = deps.known_project(project_id, ident.org_id)
    if project is None or not may_claim(project, ident):
        project = await deps.project(project_id, ident.org_id)
    require(project, ident, Permission.ANNOTATE)
    check_not_archived(project, "nobody claims its tasks")
    return project


def may_claim(project: ProjectState, ident: Identity) -> bool:
    return not project.archived and is_allowed(project.members.get(ident.user_id), ident.is_admin, Permission.ANNOTATE)


async def _claim(deps: Deps, ctx: CallContext, ident: Identity, project: ProjectState) -> TaskView | None:
    role = require(project, ident, Permission.ANNOTATE)
    project_id = project.project_id
    now = datetime.now(UTC)
    expires = now + timedelta(seconds=deps.settings.lease_seconds)
    fresh = {}
    async with deps.pool.acquire() as conn, _one_claim_at_a_time(conn, project_id, ident.user_id):
        task = await _lease_next_task(conn, project_id, ident, now, expires)
        if task is None:
            return await _keep_result(deps, ctx, None, conn)
        if task["held"] is not None:
            # On this connection: a second one from the pool while holding this one starves
            # the pool when as many lease holders claim at once (every claim then hangs).
            return await _keep_result(deps, ctx, await _one_view(deps, ctx, task["held"], conn=conn), conn)
        task_id, data_row_id, label_id = task["task_id"], task["data_row_id"], task["label_id"]
        writes = [StreamWrite(stream_name("project", project_id), [], project.version)]
        started = None
        if label_id is not None:  # the caller's draft from an earlier lease: theirs again
            fresh[label_id] = label_view(await deps.label(label_id, ident.org_id, conn=conn))
        else:
            label_id = task["new_label_id"]
            label_events: list[Event] = [
                LabelStarted(
                    label_id=label_id,
                    task_id=task_id,
                    project_id=project_id,
                    data_row_id=data_row_id,
                    author_id=ident.user_id,
                    ontology_version=project.ontology_version,
                )
            ]
            if task["prelabels"] is not None:
                label_events.append(
                    PreLabelsApplied(
                        label_id=label_id,
                        prelabels=_prelabel_decoder.decode(task["prelabels"]),
                        source=task["prelabel_source"],
                    )
                )
            ids = [str(uuid.uuid4()) for _ in label_events]
            writes.append(
                StreamWrite(stream_name("label", label_id), label_events, NO_STREAM, event_ids=ids, new_ids=True)
            )
            started = label_domain.LabelState(label_id=label_id)
            for i, (eid, e) in enumerate(zip(ids, label_events, strict=True)):
                started = msgspec.structs.replace(label_domain.evolve(started, eid, e, now, ident.user_id), version=i)
            fresh[label_id] = label_view(started)
        leased = TaskLeased(
            task_id=task_id, project_id=project_id, user_id=ident.user_id, label_id=label_id, expires_at=expires
        )
        task_stream = stream_name("task", task_id)
        writes.insert(0, StreamWrite(task_stream, [leased], ANY))
        result = await deps.store.append(
            writes,
            org_id=ident.org_id,
            metadata=ctx.metadata(role, project_id=project_id, task_id=task_id, label_id=label_id),
            conn=conn,
        )
        if sees_all_labels(project, ident):  # they see every label and lease on it: read them
            view = await _one_view(deps, ctx, task_id, fresh=fresh, conn=conn)
        else:  # an annotator sees only their own label and lease, all known here
            mine = fresh[label_id]
            row = deps.remember_row(task) if task["row"] is not None else None
            view = TaskView(
                id=task_id,
                project_id=project_id,
                data_row_id=data_row_id,
                batch_id=task["batch_id"],
                status=task["status"],
                priority=task["priority"],
                required_labels=task["required_labels"],
                submitted_labels=task["submitted_labels"],
                data_row=row_view(row, mine) if row is not None else None,
                my_label=mine,
                labels=[mine],
                leased_by=ident.user_id,
                lease_expires_at=expires,
                leases=[LeaseView(user_id=ident.user_id, label_id=label_id, expires_at=expires)],
                created_at=task["created_at"],
            )
        await _keep_result(deps, ctx, view, conn)
    if started is not None:
        # Committed: what the caller's first action would otherwise read. It decides on
        # these, and its append guards every stream they came from.
        deps.remember_label(ident.org_id, started)
        deps.facts.put(
            (ident.org_id, task_id, ident.user_id),
            ActionFacts(
                project_id=project_id,
                data_row_id=data_row_id,
                status=task["status"],
                label_id=label_id,
                lease_expires_at=expires,
                label_status="DRAFT",
                project_version=project.version,
                label_version=started.version,
                task_version=result.version(task_stream),
                workflow_version=-1 if task["workflow_version"] is None else task["workflow_version"],
                submitted_labels=task["submitted_labels"],
                required_labels=task["required_labels"],
                leased_at=now,
            ),
        )
    return view


# Every lookup beside the task row is a correlated scalar subquery on a primary key: written
# as joins (an anti join for "not labelled by the caller", a left join for the pre-labels),
# a plan made on a small queue read all of the caller's assignments, or all of the project's
# pre-labels, for every task the queue scan passed (test_queue_plans.py, ADR 0012).
def _callers(condition: str) -> str:
    """``condition`` on the caller's assignment of the task, false when they have none."""
    return (
        f"coalesce((select {condition} from labeling.assignments a"
        " where a.task_id = t.task_id and a.user_id = $2), false)"
    )


_DONE_BY_CALLER = _callers("a.label_status <> 'DRAFT' or a.skipped")

# Not the caller's either while a lease of theirs on it is still counted in ``open_leases``:
# one that ended and that the expiry has not swept yet. Leased again, it would be counted
# twice (the claim adds one) and the task would stay full after the lease's end. Not part of
# ``_DONE_BY_CALLER``: that one is permanent, and the frontier passes only what is.
_DONE_OR_LEASED_BY_CALLER = _callers("a.label_status <> 'DRAFT' or a.skipped or a.lease_expires_at is not null")

# A task's queue position, ascending in claim order: migration 0009's index is on these.
_PRIORITY_KEY = "-(t.priority::bigint)"
_POSITION = f"({_PRIORITY_KEY}, t.seq)"
_QUEUE_ORDER = f"{_PRIORITY_KEY}, t.seq"


def _at_or_after(cte: str) -> str:
    """At or after the position (``p``, ``s``) of the one-row CTE ``cte``: where the scan of
    the queue index starts."""
    return f"{_POSITION} >= ((select p from {cte}), (select s from {cte}))"


# The caller's frontier when it is of the project's current generation, else the queue's start
# (migration 0010). Both statements that read it read the generation in their own snapshot.
_FRONTIER_CTES = """gen as (
  select coalesce((select g.generation from labeling.queue_generations g where g.project_id = $1), 0) as n),
frontier as (
  select coalesce(max(f.priority_key), -2147483648) as p, coalesce(max(f.seq), 0) as s
    from labeling.claim_frontiers f
   where f.project_id = $1 and f.user_id = $2 and f.generation = (select n from gen))"""


def _claimable_from(start: str) -> str:
    """Open, with room for another label, not labelled, skipped or leased by the caller, at or
    after the position the CTE ``start`` gives."""
    return (
        " t.project_id = $1 and t.status = 'TO_LABEL' and t.submitted_labels + t.open_leases < t.required_labels"
        f" and not {_DONE_OR_LEASED_BY_CALLER} and {_at_or_after(start)}"
    )


_CLAIMABLE = _claimable_from("frontier")


def _prelabel(column: str) -> str:
    return (
        f"(select p.{column} from labeling.prelabels p"
        " where p.project_id = t.project_id and p.data_row_id = t.data_row_id)"
    )


# The claimed task's row, the caller's earlier label on it (a draft from a lease that ended)
# and the row's pre-labels for the project: all a claim needs, in the locking query.
_CLAIM_COLUMNS = (
    "t.task_id, t.data_row_id, t.batch_id, t.status, t.priority, t.required_labels, t.submitted_labels,"
    " t.created_at, t.seq,"
    " (select a.label_id from labeling.assignments a where a.task_id = t.task_id and a.user_id = $2) as label_id,"
    f" {_prelabel('source')} as prelabel_source, {_prelabel('prelabels::text')} as prelabels,"
    f" {version_sql('workflow', 't.task_id')} as workflow_version"
    " from labeling.tasks t"
)


# The lease the caller already holds in the project, if any. The task's status is a
# primary-key subquery: as a join, a plan made on an empty queue scanned every open task of
# the table for each lease.
_HELD_SQL = (
    "select a.task_id from labeling.assignments a"
    " where a.project_id = $1 and a.user_id = $2 and a.lease_expires_at > $3"
    " and (select t.status from labeling.tasks t where t.task_id = a.task_id) = 'TO_LABEL'"
    " order by a.leased_at limit 1"
)

CLAIM_SQL = f"""
with held as ({_HELD_SQL}),
{_FRONTIER_CTES},
walked as (
  select {_PRIORITY_KEY} as p, t.seq as s from labeling.tasks t
   where t.project_id = $1 and t.status = 'TO_LABEL' and not exists (select 1 from held)
     and not {_DONE_BY_CALLER} and {_at_or_after("frontier")}
   order by {_QUEUE_ORDER} limit 1),
next as (
  select {_CLAIM_COLUMNS}
   where {_claimable_from("walked")} and not exists (select 1 from held)
   order by {_QUEUE_ORDER} limit 1 for update of t skip locked),
past_the_last as (
  select {_PRIORITY_KEY} as p, t.seq + 1 as s from labeling.tasks t
   where t.project_id = $1 and t.status = 'TO_LABEL' and not exists (select 1 from held)
     and not exists (select 1 from walked)
   order by {_PRIORITY_KEY} desc, t.seq desc limit 1),
moved as (
  insert into labeling.claim_frontiers as f (project_id, user_id, generation, priority_key, seq)
  select $1, $2, (select n from gen), w.p, w.s
    from (select p, s from walked union all select p, s from past_the_last) w
   where (w.p, w.s) is distinct from ((select p from frontier), (select s from frontier))
  on conflict (project_id, user_id) do update set generation = excluded.generation,
    priority_key = excluded.priority_key, seq = excluded.seq),
lease as (
  insert into labeling.assignments
    (task_id, user_id, label_id, org_id, project_id, leased_at, lease_expires_at, seq)
  select task_id, $2, coalesce(label_id, $4), $5::uuid, $1, $3, $6, seq from next
  on conflict (task_id, user_id)
  do update set leased_at = excluded.leased_at, lease_expires_at = excluded.lease_expires_at,
    seq = excluded.seq),
bump as (
  update labeling.tasks set open_leases = open_leases + 1, updated_at = now()
   where task_id = (select task_id from next))
select (select task_id from held) as held, $4 as new_label_id, next.*, {ROW_COLUMNS}
  from (values (1)) as one (x)
  left join next on true
  left join labeling.data_rows d
    on d.data_row_id = (select data_row_id from next) and d.org_id = $5::uuid
"""
"""A claim in one statement: the lease the caller already holds in the project (``held``),
else the next claimable task, locked, leased to the caller and counted, with its data row.
The caller's frontier moves to the first open task they have not labelled or skipped
(``walked``, a scan from the frontier; past the queue's last task when there is none), and
the claim's scan starts there: no claim walks past the same labelled tasks twice, and one
claim walks them once (migration 0010).
Parameters: project, user, now, a new label id (the caller's earlier label on the task is
kept instead), org, lease end. Both empty: nothing claimable is unlocked (see
``_lease_next_task``)."""


@contextlib.asynccontextmanager
async def _one_claim_at_a_time(conn: Conn, project_id: str, user_id: str) -> AsyncIterator[None]:
    """A transaction holding the lock of one claim of a caller in a project at a time: two
    at once (two tabs) would each find no lease held and each lease a task.

    The lock is taken before the claim's statement starts, whose snapshot must see the lease
    of any claim that held it. ``begin`` and the lock go as one simple query, one round trip
    where ``conn.transaction()`` and a lock statement took two; the simple protocol has no
    parameters, so the key's text is a literal. The lock is held to the transaction's end,
    in a key space of its own (the two-key form; 7401 is ours).
    """
    key = _literal(f"{project_id}/{user_id}")
    await conn.execute(f"begin; select pg_advisory_xact_lock(7401, hashtext({key}))")
    try:
        yield
    except BaseException:
        # Best effort, so the claim's own error is the one raised: after a cancelled query
        # the connection may refuse, and the pool's reset rolls back what is left.
        with contextlib.suppress(asyncpg.PostgresError, asyncpg.InterfaceError, OSError):
            await conn.execute("rollback")
        raise
    await conn.execute("commit")


def _literal(text: str) -> str:
    """``text`` as an escape-string constant, whatever ``standard_conforming_strings`` says."""
    if "\x00" in text:
        raise Invalid("an id cannot contain a NUL character", {"id": "nul"})
    return "E'" + text.replace("\\", "\\\\").replace("'", "''") + "'"


# The claimable task ahead of the others, locked or not.
_BUSY_SQL = (
    f"with {_FRONTIER_CTES} select t.task_id from labeling.tasks t where {_CLAIMABLE} order by {_QUEUE_ORDER} limit 1"
)
_WAIT_FOR_SQL = (
    f"with {_FRONTIER_CTES} select t.task_id from labeling.tasks t where t.task_id = $3 and {_CLAIMABLE}"
    " for update of t"
)


async def _lease_next_task(
    conn: Conn, project_id: str, ident: Identity, now: datetime, expires: datetime
) -> asyncpg.Record | None:
    """Lease the next claimable task to the caller (see ``CLAIM_SQL``), or find their held
    lease; None when nothing is left for them.

    ``skip locked`` lets concurrent claimers take different tasks without waiting. When every
    claimable task is locked (a consensus task several annotators claim at once), wait for
    the first one's lock, check that it still has room (it may need more labels), and claim
    again: a row this transaction has locked is not skipped.
    """
    for _ in range(20):
        task = await conn.fetchrow(CLAIM_SQL, project_id, ident.user_id, now, str(uuid.uuid4()), ident.org_id, expires)
        assert task is not None  # one row, whatever was found
        if task["held"] is not None or task["task_id"] is not None:
            return task
        busy = await conn.fetchval(_BUSY_SQL, project_id, ident.user_id)
        if busy is None:
            return None
        await conn.fetchval(_WAIT_FOR_SQL, project_id, ident.user_id, busy)
    return None


async def _task_and_lease(conn: Conn, ident_org: str, user_id: str, task_id: str) -> asyncpg.Record:
    row = await conn.fetchrow(
        "select t.task_id, t.project_id, t.status, a.label_id, a.lease_expires_at from labeling.tasks t"
        " left join labeling.assignments a on a.task_id = t.task_id and a.user_id = $3"
        " where t.task_id = $1 and t.org_id = $2 for update of t",
        task_id,
        ident_org,
        user_id,
    )
    if row is None:
        raise NotFound("task not found")
    return row


async def release_task(deps: Deps, ctx: CallContext, req: TaskRef) -> TaskView:
    """Give back the caller's lease (the draft label stays theirs if they claim it again)."""
    return await _end_lease(deps, ctx, req.task_id, skip_reason=None)


async def skip_task(deps: Deps, ctx: CallContext, req: SkipTaskRequest) -> TaskView:
    """Skip a claimed task (status SKIPPED until a manager requeues it; never offered to the
    skipper again)."""
    return await _end_lease(deps, ctx, req.task_id, skip_reason=req.reason)


async def _end_lease(deps: Deps, ctx: CallContext, task_id: str, skip_reason: str | None) -> TaskView:
    return await once_per_key(
        ctx, deps.store.stored_result, TaskView, lambda: _end_lease_once(deps, ctx, task_id, skip_reason)
    )


async def _end_lease_once(deps: Deps, ctx: CallContext, task_id: str, skip_reason: str | None) -> TaskView:
    ident = ctx.require_identity()
    now = datetime.now(UTC)
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await _task_and_lease(conn, ident.org_id, ident.user_id, task_id)
        project = await deps.project(row["project_id"], ident.org_id, conn=conn)
        role = require(project, ident, Permission.ANNOTATE)
        if row["status"] != "TO_LABEL":
            raise Invalid(f"the task is {row['status'].lower()}", {"task_id": row["status"]})
        if row["lease_expires_at"] is None or row["lease_expires_at"] <= now:
            raise Forbidden("you hold no lease on this task")
        event: Event = (
            TaskReleased(task_id=task_id, project_id=row["project_id"], user_id=ident.user_id)
            if skip_reason is None
            else TaskSkipped(task_id=task_id, project_id=row["project_id"], user_id=ident.user_id, reason=skip_reason)
        )
        event_id = str(uuid.uuid4())
        await deps.store.append(
            StreamWrite(stream_name("task", task_id), [event], ANY, event_ids=[event_id], new_ids=True),
            org_id=ident.org_id,
            metadata=ctx.metadata(role, project_id=row["project_id"], task_id=task_id, label_id=row["label_id"]),
            conn=conn,
        )
        await conn.execute(
            "update labeling.assignments set lease_expires_at = null, skipped = skipped or $3"
            " where task_id = $1 and user_id = $2",
            task_id,
            ident.user_id,
            skip_reason is not None,
        )
        # A skip is an own status write review reacts to (status_cause; a release is not).
        await conn.execute(
            "update labeling.tasks set open_leases = greatest(open_leases - 1, 0), status = $2, updated_at = now(),"
            " status_cause = coalesce($3, status_cause) where task_id = $1",
            task_id,
            "SKIPPED" if skip_reason is not None else "TO_LABEL",
            event_id if skip_reason is not None else None,
        )
        view_after = await _one_view(deps, ctx, task_id, conn=conn)
        await _keep_result(deps, ctx, view_after, conn)
    return view_after


async def requeue_task(deps: Deps, ctx: CallContext, req: TaskRef) -> TaskView:
    """Managers put a skipped (or stuck) task back in the queue; every lease on it ends."""
    return await once_per_key(ctx, deps.store.stored_result, TaskView, lambda: _requeue_once(deps, ctx, req))


async def _requeue_once(deps: Deps, ctx: CallContext, req: TaskRef) -> TaskView:
    ident = ctx.require_identity()
    async with deps.pool.acquire() as conn, conn.transaction():
        row = await _task_and_lease(conn, ident.org_id, ident.user_id, req.task_id)
        project = await deps.project(row["project_id"], ident.org_id, conn=conn)
        role = require(project, ident, Permission.REQUEUE)
        if row["status"] not in ("SKIPPED", "TO_LABEL"):
            status = row["status"].lower().replace("_", " ")
            raise Invalid(f"the task is {status}; only a skipped or open task is requeued", {"task_id": row["status"]})
        event_id = str(uuid.uuid4())
        await deps.store.append(
            StreamWrite(
                stream_name("task", req.task_id),
                [TaskRequeued(task_id=req.task_id, project_id=row["project_id"])],
                ANY,
                event_ids=[event_id],
                new_ids=True,
            ),
            org_id=ident.org_id,
            metadata=ctx.metadata(role, project_id=row["project_id"], task_id=req.task_id),
            conn=conn,
        )
        await conn.execute("update labeling.assignments set lease_expires_at = null where task_id = $1", req.task_id)
        await conn.execute(
            "update labeling.tasks set status = 'TO_LABEL', open_leases = 0, updated_at = now(), status_cause = $2"
            " where task_id = $1",
            req.task_id,
            event_id,
        )
        view = await _one_view(deps, ctx, req.task_id, conn=conn)
        await _keep_result(deps, ctx, view, conn)
        return view


async def expire_leases_once(deps: Deps, limit: int = 500) -> int:
    """Return expired leases to the queue (TaskReleased reason="expired"); returns how many."""
    return await _release_leases(
        deps,
        "where lease_expires_at < now() order by lease_expires_at limit $1",
        [limit],
        "lease_expires_at < now()",
        "expired",
    )


async def release_leases_of(deps: Deps, project_id: str, user_id: str, ctx: CallContext | None = None) -> int:
    """Return a member's open leases in a project to the queue (TaskReleased
    reason="member_removed"), as when they are removed from it; returns how many.

    First it waits for a claim of theirs in flight (it holds the lock of
    ``_one_claim_at_a_time``): its append passed the project's guard before the removal
    committed, and its lease, committed after this looked, stayed leased to someone no longer
    in the project. A claim that takes the lock later fails that guard."""
    async with deps.pool.acquire() as conn, conn.transaction():
        await conn.execute("select pg_advisory_xact_lock(7401, hashtext($1))", f"{project_id}/{user_id}")
    return await _release_leases(
        deps,
        "where project_id = $1 and user_id = $2 and lease_expires_at is not null",
        [project_id, user_id],
        "lease_expires_at is not null",
        "member_removed",
        ctx,
    )


async def release_project_leases(deps: Deps, project_id: str, ctx: CallContext | None = None) -> int:
    """Return every open lease of an archived project (TaskReleased reason="project_archived");
    returns how many. A claim decided before the archive fails its guard on the project's
    stream, so none commits after it; one that committed before is found here."""
    return await _release_leases(
        deps,
        "where project_id = $1 and lease_expires_at is not null",
        [project_id],
        "lease_expires_at is not null",
        "project_archived",
        ctx,
    )


async def _release_leases(
    deps: Deps, where: str, args: list[object], still: str, reason: str, ctx: CallContext | None = None
) -> int:
    """Release the leases ``where`` finds that, once locked, still match ``still``: the
    system's doing, on behalf of the request ``ctx`` when there is one (a removal, an archive),
    whose correlation id and user agent the events carry.

    Each in a transaction of its own that locks the task's row first, then the lease's row,
    then appends: the order of a claim, a submission and a release. Appending first and then
    locking the task's row deadlocked with a claim that held the row and waited for the
    stream's next position.
    """
    found = await deps.pool.fetch("select task_id, user_id from labeling.assignments " + where, *args)
    released = 0
    for task_id, user_id in found:
        async with deps.pool.acquire() as conn, conn.transaction():
            await conn.execute(TASK_ROW_LOCK, task_id)
            lease = await conn.fetchrow(
                "select label_id, org_id::text, project_id from labeling.assignments"
                f" where task_id = $1 and user_id = $2 and {still} for update",
                task_id,
                user_id,
            )
            if lease is None:  # released, ended or renewed meanwhile
                continue
            label_id, org_id, project_id = lease
            await deps.store.append(
                StreamWrite(
                    stream_name("task", task_id),
                    [TaskReleased(task_id=task_id, project_id=project_id, user_id=user_id, reason=reason)],
                    ANY,
                ),
                org_id=org_id,
                metadata=Metadata(
                    actor_id=SYSTEM_ACTOR,
                    actor_role="SYSTEM",
                    correlation_id=ctx.correlation_id if ctx is not None else "",
                    user_agent=ctx.user_agent if ctx is not None else None,
                    project_id=project_id,
                    task_id=task_id,
                    label_id=label_id,
                ),
                conn=conn,
            )
            await conn.execute(
                "update labeling.assignments set lease_expires_at = null where task_id = $1 and user_id = $2",
                task_id,
                user_id,
            )
            await conn.execute(
                "update labeling.tasks set open_leases = greatest(open_leases - 1, 0) where task_id = $1", task_id
            )
            released += 1
    return released


# Moves the oldest deltas into the per-project counts (migration 0005). Instances folding at
# once each delete different rows (a row another has deleted is skipped), so nothing counts
# twice.
_FOLD_PROGRESS_SQL = """
with moved as (
  delete from labeling.progress_deltas
   where id in (select id from labeling.progress_deltas order by id limit $1)
  returning project_id, status, n),
folded as (
  insert into labeling.progress (project_id, status, n)
    select project_id, status, sum(n) from moved group by project_id, status
    on conflict (project_id, status) do update set n = labeling.progress.n + excluded.n)
select count(*) from moved
"""
FOLD_BATCH = 10_000


async def fold_progress_once(pool: asyncpg.Pool) -> None:
    """Fold every pending progress delta, a batch per statement."""
    while await pool.fetchval(_FOLD_PROGRESS_SQL, FOLD_BATCH) == FOLD_BATCH:
        pass


def progress_fold_loop(deps: Deps, interval: float = 2.0) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A ServiceParts loop: fold progress deltas every ``interval`` seconds until stopped."""
    return every(interval, lambda: fold_progress_once(deps.pool))


def lease_expiry_loop(deps: Deps, interval: float = 1.0) -> Callable[[asyncio.Event], Awaitable[None]]:
    """A ServiceParts loop: expire leases every ``interval`` seconds until stopped."""

    async def step() -> None:
        try:
            await expire_leases_once(deps)
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError) as exc:
            log.warning("lease_expiry.retry", error=str(exc))

    return every(interval, step)
