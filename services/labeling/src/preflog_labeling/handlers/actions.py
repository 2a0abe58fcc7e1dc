"""Annotator actions on the caller's label: one command, one statement, one event.

Each action loads the task row (status, the caller's lease and label), the project (role,
settings, ontology), the label (folded) and the row; the domain decides; the event is
appended at the label stream's expected version, with a submission's changes to the queue
rows in the same statement. A concurrent writer on the same label (a second session of the
same annotator) makes the append fail: the command is decided again from fresh state, a few
times, then CONFLICT. Never a lost update.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import NamedTuple

import asyncpg
import msgspec

from preflog_contracts.datarow import DataRow
from preflog_contracts.envelope import stream_name
from preflog_contracts.errors import Conflict, Forbidden, NotFound, PreflogError, WrongExpectedVersion
from preflog_contracts.events.base import Event
from preflog_contracts.events.labels import Target, TaskReleased
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.labeling import (
    AddCommentRequest,
    AddResponseRequest,
    AnswerQuestionRequest,
    CommentView,
    CrownResponseRequest,
    DeleteResponseRequest,
    EditResponseRequest,
    LabelView,
    RankResponsesRequest,
    TaskRef,
)
from preflog_eventstore import Effect, Lock, StreamWrite
from preflog_labeling.domain import label_commands as decide
from preflog_labeling.domain.label import LabelState, evolve
from preflog_labeling.domain.label_view import label_view
from preflog_labeling.domain.project import ProjectState, check_not_archived
from preflog_labeling.domain.roles import Permission
from preflog_labeling.domain.task import check_can_act, status_after_submit
from preflog_labeling.handlers.access import require
from preflog_labeling.handlers.state import Deps, version_sql
from preflog_messaging import CallContext, once_per_key

RETRIES = 5


# The task row, the caller's assignment, and the current versions of the streams a decision
# depends on, in one round trip: when the cached folded states are at those versions (the
# usual case) nothing else is read before deciding.
_ACTION_FACTS = (
    "select t.project_id, t.data_row_id, t.status, a.label_id, a.lease_expires_at, a.label_status,"
    " t.submitted_labels, t.required_labels, a.leased_at, coalesce(a.dropped, false) as dropped, "
    + ", ".join(
        f"{version_sql(category, key)} as {category}_version"
        for category, key in (
            ("project", "t.project_id"),
            ("label", "a.label_id"),
            ("task", "t.task_id"),
            ("workflow", "t.task_id"),
        )
    )
    + " from labeling.tasks t left join labeling.assignments a on a.task_id = t.task_id and a.user_id = $3"
    " where t.task_id = $1 and t.org_id = $2"
)
Decide = Callable[[LabelState, ProjectState, DataRow], Event]


class ActionFacts(msgspec.Struct, frozen=True):
    """What an action is decided on besides the label and project states, with the versions
    of the task and workflow streams it was read at (-1: no such stream yet)."""

    project_id: str
    data_row_id: str
    status: str
    label_id: str | None
    lease_expires_at: datetime | None
    label_status: str | None
    project_version: int | None
    label_version: int | None
    task_version: int
    workflow_version: int
    submitted_labels: int
    required_labels: int
    leased_at: datetime | None
    dropped: bool = False  # the caller's label was dropped by a requeue from rework


async def load_facts(deps: Deps, task_id: str, org_id: str, user_id: str) -> ActionFacts:
    row = await deps.pool.fetchrow(_ACTION_FACTS, task_id, org_id, user_id)
    if row is None:
        raise NotFound("task not found")
    return facts_of(row)


def facts_of(row: asyncpg.Record) -> ActionFacts:
    """The facts in a row of ``_ACTION_FACTS``."""
    return ActionFacts(
        row["project_id"],
        row["data_row_id"],
        row["status"],
        row["label_id"],
        row["lease_expires_at"],
        row["label_status"],
        row["project_version"],
        row["label_version"],
        -1 if row["task_version"] is None else row["task_version"],
        -1 if row["workflow_version"] is None else row["workflow_version"],
        row["submitted_labels"],
        row["required_labels"],
        row["leased_at"],
        row["dropped"],
    )


def with_review_status(label: LabelState, review_status: str | None) -> LabelState:
    """A label review rejected is editable again: review's decision lives in our assignments
    table (learned from LabelRejected), not in the label's own stream."""
    if label.status == "SUBMITTED" and review_status in ("REJECTED", "APPROVED"):
        return msgspec.structs.replace(label, status=review_status)
    return label


class _Step(NamedTuple):
    """What a label command appends besides its event on the label's stream: the write to
    the task's stream (a guard, or an event at the version the facts were read at), its
    effects on the queue rows and the rows it locks first."""

    event: Event
    task: StreamWrite
    effects: list[Effect]
    locks: tuple[Lock, ...] = ()


Plan = Callable[[ActionFacts, LabelState, ProjectState, DataRow, str, str], _Step]
"""(facts, label, project, row, the caller's user id, the id the label's event will have)."""


async def act(deps: Deps, ctx: CallContext, task_id: str, decide_fn: Decide) -> LabelView:
    """Run one label action for the caller; returns the label as it is after it."""

    def plan(
        facts: ActionFacts, label: LabelState, project: ProjectState, row: DataRow, user_id: str, _event_id: str
    ) -> _Step:
        return _Step(
            decide_fn(label, project, row), StreamWrite(stream_name("task", task_id), [], facts.task_version), []
        )

    return await _label_command(deps, ctx, task_id, plan)


async def _label_command(deps: Deps, ctx: CallContext, task_id: str, plan: Plan, *, done: bool = False) -> LabelView:
    """Decide and append one command on the caller's label, in one statement.

    The first attempt decides on facts this process cached from the caller's previous action
    (no read at all); the append then guards every stream those facts came from (the task's,
    its workflow's, the project's) besides the label's own expected version, so facts that
    moved meanwhile fail the append and the command is decided again from fresh ones. A
    refusal is never based on cached facts: it is checked against fresh ones first. ``done``:
    the command ends the caller's work on the task, so its facts are not kept.
    """
    return await once_per_key(
        ctx, deps.store.stored_result, LabelView, lambda: _label_command_once(deps, ctx, task_id, plan, done)
    )


async def _label_command_once(deps: Deps, ctx: CallContext, task_id: str, plan: Plan, done: bool) -> LabelView:
    ident = ctx.require_identity()
    key = (ident.org_id, task_id, ident.user_id)
    for _ in range(RETRIES):
        cached = deps.facts.get(key)
        if cached is not None and not (
            deps.cached_project(cached.project_id, ident.org_id, cached.project_version)
            and deps.cached_label(cached.label_id or "", ident.org_id, cached.label_version)
        ):
            # This process has seen the label or project move since: the facts are older.
            deps.facts.pop(key)
            cached = None
        facts = cached or await load_facts(deps, task_id, ident.org_id, ident.user_id)
        now = datetime.now(UTC)
        event_id = str(uuid.uuid4())
        try:
            project, label, row, role = await _decision_inputs(deps, ident, facts, now)
            step = plan(facts, label, project, row, ident.user_id, event_id)
        except PreflogError:
            deps.facts.pop(key)
            if cached is not None:
                continue
            raise
        after = msgspec.structs.replace(
            evolve(label, event_id, step.event, now, ident.user_id), version=label.version + 1
        )
        view = label_view(after)
        try:
            result = await deps.store.append(
                [
                    StreamWrite(
                        stream_name("label", label.label_id),
                        [step.event],
                        label.version,
                        event_ids=[event_id],
                        new_ids=True,
                    ),
                    step.task,
                    StreamWrite(stream_name("workflow", task_id), [], facts.workflow_version),
                    StreamWrite(stream_name("project", project.project_id), [], project.version),
                ],
                org_id=ident.org_id,
                metadata=ctx.metadata(role, project_id=label.project_id, task_id=task_id, label_id=label.label_id),
                idempotency_key=ctx.idempotency_key,
                result=msgspec.to_builtins(view) if ctx.idempotency_key else None,
                effects=step.effects,
                locks=step.locks,
            )
        except WrongExpectedVersion:
            deps.facts.pop(key)
            continue
        if result.duplicate:
            return msgspec.convert(result.result, LabelView)
        deps.remember_label(ident.org_id, after)
        if done:
            deps.facts.pop(key)
        else:
            deps.facts.put(
                key, msgspec.structs.replace(facts, project_version=project.version, label_version=after.version)
            )
        return view
    raise Conflict("the label changed concurrently; retry")


async def _decision_inputs(
    deps: Deps, ident: Identity, facts: ActionFacts, now: datetime
) -> tuple[ProjectState, LabelState, DataRow, str]:
    """The project, the caller's label and the row, once the caller may act on the task."""
    project = deps.cached_project(facts.project_id, ident.org_id, facts.project_version) or (
        await deps.project(facts.project_id, ident.org_id)
    )
    role = require(project, ident, Permission.ANNOTATE)
    check_not_archived(project, "its labels take no more actions")
    if facts.dropped:
        raise Forbidden("your label on this task was dropped when a manager requeued it from rework")
    check_can_act(
        status=facts.status,
        user_id=ident.user_id,
        has_label=facts.label_id is not None,
        lease_user=ident.user_id if facts.lease_expires_at is not None else None,
        lease_expires_at=facts.lease_expires_at,
        now=now,
    )
    assert facts.label_id is not None  # check_can_act refuses a caller without a label
    label = deps.cached_label(facts.label_id, ident.org_id, facts.label_version) or (
        await deps.label(facts.label_id, ident.org_id)
    )
    label = with_review_status(label, facts.label_status)
    row = await deps.data_row(facts.data_row_id, ident.org_id)
    return project, label, row.row, role


async def rank_responses(deps: Deps, ctx: CallContext, req: RankResponsesRequest) -> LabelView:
    return await act(deps, ctx, req.task_id, lambda s, p, r: decide.decide_rank(s, p, r, req.prompt_id, req.ranking))


async def crown_response(deps: Deps, ctx: CallContext, req: CrownResponseRequest) -> LabelView:
    return await act(deps, ctx, req.task_id, lambda s, p, r: decide.decide_crown(s, r, req.prompt_id, req.response_id))


async def edit_response(deps: Deps, ctx: CallContext, req: EditResponseRequest) -> LabelView:
    return await act(deps, ctx, req.task_id, lambda s, p, r: decide.decide_edit(s, p, r, req.response_id, req.content))


async def add_response(deps: Deps, ctx: CallContext, req: AddResponseRequest) -> LabelView:
    response_id = f"added-{uuid.uuid4()}"
    return await act(
        deps,
        ctx,
        req.task_id,
        lambda s, p, r: decide.decide_add(
            s,
            p,
            r,
            response_id=response_id,
            prompt_id=req.prompt_id,
            text=req.content,
            model_config_name=req.model_config_name,
            media_url=req.media_url,
            mimetype=req.mimetype,
        ),
    )


async def delete_response(deps: Deps, ctx: CallContext, req: DeleteResponseRequest) -> LabelView:
    return await act(deps, ctx, req.task_id, lambda s, p, r: decide.decide_delete(s, p, r, req.response_id))


async def answer_question(deps: Deps, ctx: CallContext, req: AnswerQuestionRequest) -> LabelView:
    target = req.target or Target()
    return await act(
        deps, ctx, req.task_id, lambda s, p, r: decide.decide_answer(s, p, r, req.question_id, target, req.answer)
    )


async def add_comment(deps: Deps, ctx: CallContext, req: AddCommentRequest) -> CommentView:
    comment_id = str(uuid.uuid4())
    target = req.target or Target()
    view = await act(deps, ctx, req.task_id, lambda s, p, r: decide.decide_comment(s, r, comment_id, req.body, target))
    found = next((c for c in view.comments if c.id == comment_id), None)
    if found is None:  # a repeated idempotency key: the first call's comment
        found = view.comments[-1]
    return found


async def undo(deps: Deps, ctx: CallContext, req: TaskRef) -> LabelView:
    return await act(deps, ctx, req.task_id, lambda s, p, r: decide.decide_undo(s))


async def redo(deps: Deps, ctx: CallContext, req: TaskRef) -> LabelView:
    return await act(deps, ctx, req.task_id, lambda s, p, r: decide.decide_redo(s))


# Every writer of a task's stream locks the task's row first (ADR 0031): a claim, a release,
# an expiry, and a submission, which does it in its append's statement. Written the other way
# round, a claim holding the row and waiting for the stream's next position, and a submission
# holding that position and waiting for the row, deadlocked.
TASK_ROW_LOCK = "select 1 from labeling.tasks where task_id = $1 for update"

# A submission's effects on the queue rows, in the statement that appends it.
_SUBMITTED_ASSIGNMENT = (
    "update labeling.assignments set label_status = 'SUBMITTED', lease_expires_at = null"
    " where task_id = $1 and user_id = $2 and {appended}"
)
# The count grows by the label (one when it leaves DRAFT) instead of being set to the count
# decided on: review's drop of rejected labels (``consumers._drop_labels``) lowers it without
# writing the task's stream, so the facts' count may be stale by it. For the same reason the
# status decided on facts read before review moved the task is not written over review's.
# The submission becomes the task's status cause: review's reactions to earlier own events
# no longer set its status (domain.task.stale_echo).
_SUBMITTED_TASK = (
    "update labeling.tasks set submitted_labels = submitted_labels + $2,"
    " status = case when status = $5 then $3 else status end, status_cause = $6,"
    " open_leases = greatest(open_leases - $4, 0), updated_at = now() where task_id = $1 and {appended}"
)


async def submit_label(deps: Deps, ctx: CallContext, req: TaskRef) -> LabelView:
    """LabelSubmitted (with the effective content) and the lease's end, with the queue rows,
    in one statement. The task goes to review (or done where review is off) once it has the
    labels it needs; review's TaskStatusChanged events have the last word, and the only word
    on a resubmission in rework.

    The count of submitted labels is decided on the facts the command read, so the lease's
    end is appended to the task's stream at the version they were read at: of several
    authors of a consensus task submitting at once, one lands and the others are decided
    again (or get a retryable CONFLICT). Every change to the count writes that stream.
    """
    task_stream = stream_name("task", req.task_id)

    def plan(
        facts: ActionFacts, label: LabelState, project: ProjectState, row: DataRow, user_id: str, event_id: str
    ) -> _Step:
        if label.author_id != user_id:
            raise Forbidden("only the label's author submits it")
        event = decide.decide_submit(label, project, row, facts.leased_at)
        held = facts.lease_expires_at is not None
        released = [TaskReleased(task_id=req.task_id, project_id=label.project_id, user_id=user_id, reason="submitted")]
        first = 1 if facts.label_status == "DRAFT" else 0
        submitted = facts.submitted_labels + first
        status = status_after_submit(facts.status, submitted, facts.required_labels, project.settings.review_required)
        return _Step(
            event,
            StreamWrite(task_stream, released if held else [], facts.task_version),
            [
                Effect(_SUBMITTED_ASSIGNMENT, (req.task_id, user_id)),
                Effect(_SUBMITTED_TASK, (req.task_id, first, status, 1 if held else 0, facts.status, event_id)),
            ],
            (Lock(TASK_ROW_LOCK, (req.task_id,)),),
        )

    return await _label_command(deps, ctx, req.task_id, plan, done=True)
