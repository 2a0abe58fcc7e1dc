"""Review actions on labels: approve, reject, mark for review, set a benchmark reference.

Each loads the label and the caller's project role from the read model, folds the task's
workflow stream, decides with the pure domain, and appends at the stream's version; a
concurrent writer makes the append fail and the command is decided again on fresh state
(so of a concurrent approve and reject, exactly one wins and the other finds the label no
longer SUBMITTED). Refusals raise before anything is appended.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any, TypeVar

import msgspec

from preflog_contracts.errors import Invalid, NotFound, Unavailable, WrongExpectedVersion
from preflog_contracts.events.base import Event
from preflog_contracts.events.review import (
    BenchmarkReferenceSet,
    LabelApproved,
    LabelRejected,
    MarkedForReview,
    TaskStatusChanged,
)
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.review import (
    ApproveLabel,
    LabelReviewView,
    MarkForReview,
    RejectLabel,
    RequeueRework,
    ReviewFlag,
    ReworkRequeued,
    SetBenchmarkReference,
)
from preflog_eventstore import ANY, EventStore, StreamWrite
from preflog_eventstore.conn import Conn
from preflog_messaging import once_per_key
from preflog_messaging.rpc import CallContext
from preflog_review.adapters.tables import LIVE
from preflog_review.adapters.workflow_stream import (
    load_workflow,
    submitted_labels,
    workflow_stream,
)
from preflog_review.domain.access import acting_role, can_manage, can_review, require
from preflog_review.domain.issues import check_question
from preflog_review.domain.workflow import (
    SubmittedLabel,
    WorkflowState,
    approve,
    label_review_state,
    reject,
    requeue_rework,
)

_RETRIES = 8
V = TypeVar("V", LabelReviewView, ReworkRequeued)
INTAKE_WAIT_SECONDS = 10.0


_INTAKE_CAUGHT_UP = (
    "select not exists (select 1 from eventlog.events e"
    " where e.task_id = {task}"
    " and e.event_type = 'LabelSubmitted'"
    f" and e.global_position > coalesce((select l.submitted_position from {LIVE.labels} l"
    "   where l.label_id = e.label_id), -1))"
)
INTAKE_CAUGHT_UP_SQL = _INTAKE_CAUGHT_UP.format(
    task="(select task_id from eventlog.events where stream_name = $1"
    "   and coalesce(org_id = $2::uuid, true) order by stream_position limit 1)"
)
"""Whether review's intake has applied every submission in the log of the label's task
(true for a label it cannot find); $1 is the label's stream. The task's, not only the
label's: the decision is taken on the task's workflow status, which the intake moves as it
applies each submission. The org test is written so that no plan can use the org index for
it: a generic plan made on a small log read the whole org's trail through that index for
every review action (5.7 ms with 50,000 events; ADR 0012)."""
TASK_INTAKE_CAUGHT_UP_SQL = _INTAKE_CAUGHT_UP.format(
    task=f"(select task_id from {LIVE.tasks} where task_id = $1 and org_id = $2::uuid)"
)
"""The same for a task, by its id ($1) in the org ($2)."""


async def await_intake(pool: Any, sql: str, key: str, org_id: str) -> None:
    """Wait (bounded) until review's intake has applied the submissions of a task: ``sql`` is
    ``INTAKE_CAUGHT_UP_SQL`` with a label's stream as ``key``, or ``TASK_INTAKE_CAUGHT_UP_SQL``
    with a task's id.

    Review learns submissions from labeling's events a moment after they commit; a reviewer
    who approves a label the instant it is resubmitted would otherwise be refused ("not
    submitted") or judge the previous submission, and one who decides as the task's last
    label arrives would find the task not yet in review. The log says what the task's
    submissions are; the intake's table says how far it got. One round trip when it has
    caught up.
    """
    deadline = asyncio.get_running_loop().time() + INTAKE_WAIT_SECONDS
    while not await pool.fetchval(sql, key, org_id):
        if asyncio.get_running_loop().time() > deadline:
            raise Unavailable(
                "the task's latest submissions are still on their way to review; retry"
            )
        await asyncio.sleep(0.05)


class LabelContext(msgspec.Struct, frozen=True, kw_only=True):
    label_id: str
    task_id: str
    project_id: str
    data_row_id: str
    author_id: str
    status: str
    is_reference: bool
    consensus_score: float | None
    benchmark_score: float | None
    task_status: str
    role: str | None
    task_labels: list[SubmittedLabel]


async def load_label_context(conn: Conn, label_id: str, ident: Identity) -> LabelContext:
    """The label, its task's submitted labels and the caller's role; NotFound outside the org."""
    rows = await conn.fetch(
        f"select l.label_id, l.task_id, l.project_id, l.data_row_id, l.author_id, l.status,"
        f" l.submitted_position, l.is_reference, l.consensus_score, l.benchmark_score,"
        f" t.status as task_status,"
        f" (select m.role from {LIVE.members} m where m.project_id = l.project_id"
        f"   and m.user_id = $3) as role"
        f" from {LIVE.labels} l left join {LIVE.tasks} t on t.task_id = l.task_id"
        f" where l.task_id = (select task_id from {LIVE.labels} where label_id = $1"
        f"   and org_id = $2::uuid)",
        label_id,
        ident.org_id,
        ident.user_id,
    )
    mine = next((r for r in rows if r["label_id"] == label_id), None)
    if mine is None:
        raise NotFound("label not found")
    return LabelContext(
        label_id=label_id,
        task_id=mine["task_id"],
        project_id=mine["project_id"],
        data_row_id=mine["data_row_id"],
        author_id=mine["author_id"],
        status=mine["status"],
        is_reference=mine["is_reference"],
        consensus_score=mine["consensus_score"],
        benchmark_score=mine["benchmark_score"],
        task_status=mine["task_status"] or "TO_LABEL",
        role=mine["role"],
        task_labels=[
            SubmittedLabel(r["label_id"], r["submitted_position"])
            for r in rows
            if r["submitted_position"] > 0
        ],
    )


def _view_after(
    label: LabelContext,
    state: WorkflowState | None,
    events: list[Event],
    flags: list[ReviewFlag] | None = None,
) -> LabelReviewView:
    status: str = label.status
    task_status = state.status if state is not None else label.task_status
    reason = ""
    is_reference = label.is_reference
    if state is not None:
        own = next((lab for lab in label.task_labels if lab.label_id == label.label_id), None)
        if own is not None:
            status = label_review_state(state, own)
    for event in events:
        if isinstance(event, LabelApproved):
            status = "APPROVED"
        elif isinstance(event, LabelRejected):
            status, reason = "REJECTED", event.reason
        elif isinstance(event, TaskStatusChanged):
            task_status = event.to_status
        elif isinstance(event, BenchmarkReferenceSet):
            is_reference = True
    return LabelReviewView(
        label_id=label.label_id,
        task_id=label.task_id,
        project_id=label.project_id,
        author_id=label.author_id,
        status=status,  # type: ignore[arg-type]
        task_status=task_status,  # type: ignore[arg-type]
        rejection_reason=reason,
        is_reference=is_reference,
        flags=flags or [],
        consensus_score=label.consensus_score,
        benchmark_score=label.benchmark_score,
    )


Decide = Callable[[WorkflowState, LabelContext], list[Event]]


class ReviewActions:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def _decided(
        self, ctx: CallContext, label_id: str, action: str, decide: Decide
    ) -> LabelReviewView:
        return await once_per_key(
            ctx,
            self.store.stored_result,
            LabelReviewView,
            lambda: self._decided_once(ctx, label_id, action, decide),
        )

    async def _decided_once(
        self, ctx: CallContext, label_id: str, action: str, decide: Decide
    ) -> LabelReviewView:
        ident = ctx.require_identity()
        await await_intake(self.store.pool, INTAKE_CAUGHT_UP_SQL, f"label-{label_id}", ident.org_id)
        for _ in range(_RETRIES):
            # The reads on one connection, released before the append: the append then goes
            # through the store's group commit with other reviewers' decisions (one statement
            # and one commit for many) instead of one each on its own connection.
            async with self.store.pool.acquire() as conn:
                label = await load_label_context(conn, label_id, ident)
                require(can_review(label.role), action)
                state = await load_workflow(self.store, conn, label.task_id, label.project_id)
            events = decide(state, label)
            view = _view_after(label, state, events)
            answer = await self._append_at(
                ctx, label.task_id, events, state.version, self._metadata(ctx, label), view
            )
            if answer is not None:
                return answer
        raise WrongExpectedVersion("the task changed concurrently; retry the request")

    async def _append_at(
        self,
        ctx: CallContext,
        task_id: str,
        events: list[Event],
        version: int,
        metadata: Any,
        view: V,
    ) -> V | None:
        """Append a decision to the task's workflow stream at the version it was decided on:
        ``view`` (or, for a repeated key, the first call's answer), or None when the stream
        moved meanwhile and the command must be decided again on fresh state."""
        try:
            out = await self.store.append(
                StreamWrite(workflow_stream(task_id), events, version),
                org_id=ctx.require_identity().org_id,
                metadata=metadata,
                idempotency_key=ctx.idempotency_key,
                result=msgspec.to_builtins(view),
            )
        except WrongExpectedVersion:
            return None
        if out.duplicate:
            return msgspec.convert(out.result, type(view))
        return view

    def _metadata(self, ctx: CallContext, label: LabelContext) -> Any:
        ident = ctx.require_identity()
        return ctx.metadata(
            acting_role(label.role, ident.is_admin),
            project_id=label.project_id,
            task_id=label.task_id,
            label_id=label.label_id,
        )

    async def approve_label(self, ctx: CallContext, req: ApproveLabel) -> LabelReviewView:
        """Approve a SUBMITTED label (reviewer+); the task is DONE once nothing awaits review.

        Raises NotFound (unknown or other org), Forbidden, Invalid (not SUBMITTED).
        """
        return await self._decided(
            ctx,
            req.label_id,
            "approve labels",
            lambda state, label: approve(state, label.task_labels, label.label_id, req.comment),
        )

    async def reject_label(self, ctx: CallContext, req: RejectLabel) -> LabelReviewView:
        """Reject a SUBMITTED label with a reason (reviewer+); the task goes to IN_REWORK."""
        if not req.reason.strip():
            raise Invalid("a rejection needs a reason", {"reason": "required"})
        return await self._decided(
            ctx,
            req.label_id,
            "reject labels",
            lambda state, label: reject(state, label.task_labels, label.label_id, req.reason),
        )

    async def set_benchmark_reference(
        self, ctx: CallContext, req: SetBenchmarkReference
    ) -> LabelReviewView:
        """Make a submitted or approved label the reference of its data row (reviewer+)."""

        def decide(state: WorkflowState, label: LabelContext) -> list[Event]:
            own = next((lab for lab in label.task_labels if lab.label_id == label.label_id), None)
            if own is None or label_review_state(state, own) == "REJECTED":
                raise Invalid(
                    "only a submitted or approved label can be the reference",
                    {"labelId": "label is not SUBMITTED or APPROVED"},
                )
            return [
                BenchmarkReferenceSet(
                    label_id=label.label_id,
                    task_id=label.task_id,
                    project_id=label.project_id,
                    data_row_id=label.data_row_id,
                )
            ]

        return await self._decided(ctx, req.label_id, "set benchmark references", decide)

    async def requeue_rework(self, ctx: CallContext, req: RequeueRework) -> ReworkRequeued:
        """Send a task in rework back to the queue, its rejected labels dropped for good
        (managers, owners and org admins; see ``workflow.requeue_rework``). Labeling learns
        it from the event: the dropped labels stop counting and the task is claimable again.

        Raises NotFound (unknown or other org), Forbidden, Invalid (not in rework).
        """
        return await once_per_key(
            ctx,
            self.store.stored_result,
            ReworkRequeued,
            lambda: self._requeue_rework_once(ctx, req.task_id, req.queue_key),
        )

    async def _requeue_rework_once(
        self, ctx: CallContext, task_id: str, queue_key: str | None
    ) -> ReworkRequeued:
        ident = ctx.require_identity()
        if (
            queue_key is not None
            and (await self.store.stored_result(ident.org_id, ident.user_id, queue_key))[0]
        ):
            raise Invalid(
                "this request was answered by the queue's requeue",
                {"taskId": "requeued by the queue, not from rework"},
            )
        # A resubmission already in the log must count as one, not be dropped.
        await await_intake(self.store.pool, TASK_INTAKE_CAUGHT_UP_SQL, task_id, ident.org_id)
        for _ in range(_RETRIES):
            async with self.store.pool.acquire() as conn:
                task = await conn.fetchrow(
                    f"select t.project_id, (select m.role from {LIVE.members} m"
                    "   where m.project_id = t.project_id and m.user_id = $3) as role"
                    f" from {LIVE.tasks} t where t.task_id = $1 and t.org_id = $2::uuid",
                    task_id,
                    ident.org_id,
                    ident.user_id,
                )
                if task is None:
                    raise NotFound("task not found")
                project_id, role = task
                require(can_manage(role, ident.is_admin), "requeue tasks")
                state = await load_workflow(self.store, conn, task_id, project_id)
                labels = await submitted_labels(conn, task_id)
            event = requeue_rework(state, labels)
            view = ReworkRequeued(
                task_id=task_id,
                project_id=project_id,
                status="TO_LABEL",
                dropped_label_ids=event.dropped_label_ids,
            )
            metadata = ctx.metadata(
                acting_role(role, ident.is_admin), project_id=project_id, task_id=task_id
            )
            answer = await self._append_at(ctx, task_id, [event], state.version, metadata, view)
            if answer is not None:
                return answer
        raise WrongExpectedVersion("the task changed concurrently; retry the request")

    async def mark_for_review(self, ctx: CallContext, req: MarkForReview) -> LabelReviewView:
        """Flag a submitted label, or one answer or response of it, with a note (reviewer+).

        Flags never conflict with anything, so this appends at the end of the stream.
        """
        return await once_per_key(
            ctx, self.store.stored_result, LabelReviewView, lambda: self._mark_once(ctx, req)
        )

    async def _mark_once(self, ctx: CallContext, req: MarkForReview) -> LabelReviewView:
        ident = ctx.require_identity()
        await await_intake(
            self.store.pool, INTAKE_CAUGHT_UP_SQL, f"label-{req.label_id}", ident.org_id
        )
        async with self.store.pool.acquire() as conn:
            label = await load_label_context(conn, req.label_id, ident)
            require(can_review(label.role), "mark labels for review")
            if not label.task_labels or label.label_id not in {
                lab.label_id for lab in label.task_labels
            }:
                raise Invalid("only a submitted label can be marked", {"labelId": "not submitted"})
            if req.question_id is not None:
                questions = await conn.fetchval(
                    f"select questions::text from {LIVE.projects} where project_id = $1",
                    label.project_id,
                )
                check_question(questions, req.question_id)
            event = MarkedForReview(
                label_id=label.label_id,
                task_id=label.task_id,
                project_id=label.project_id,
                note=req.note,
                target=req.target,
                question_id=req.question_id,
            )
            flag = ReviewFlag(
                note=req.note,
                target=req.target,
                question_id=req.question_id,
                actor_id=ident.user_id,
                at=datetime.now(UTC),
            )
            view = _view_after(label, None, [], [flag])
            out = await self.store.append(
                StreamWrite(workflow_stream(label.task_id), [event], ANY),
                org_id=ident.org_id,
                metadata=self._metadata(ctx, label),
                idempotency_key=ctx.idempotency_key,
                result=msgspec.to_builtins(view),
                conn=conn,
            )
        if out.duplicate and out.result is not None:
            return msgspec.convert(out.result, LabelReviewView)
        return view
