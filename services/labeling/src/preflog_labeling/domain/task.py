"""A task's state folded from its stream (plus its labels' submissions and review's
status changes), and who may act on it."""

from __future__ import annotations

from datetime import datetime

import msgspec

from preflog_contracts.envelope import Metadata
from preflog_contracts.errors import Forbidden, Invalid
from preflog_contracts.events.base import Event
from preflog_contracts.events.labels import (
    LabelSubmitted,
    TaskCreated,
    TaskLeased,
    TaskReleased,
    TaskRequeued,
    TaskSkipped,
)
from preflog_contracts.events.review import LabelApproved, LabelRejected, TaskStatusChanged

OPEN = ("TO_LABEL", "IN_REWORK")


class Lease(msgspec.Struct, frozen=True):
    label_id: str
    expires_at: datetime


class TaskState(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    project_id: str = ""
    data_row_id: str = ""
    batch_id: str = ""
    priority: int = 0
    required_labels: int = 1
    status: str = "TO_LABEL"
    leases: dict[str, Lease] = {}
    labels: dict[str, str] = {}  # label id -> author id
    submitted: frozenset[str] = frozenset()  # label ids submitted at least once, not dropped
    dropped: frozenset[str] = frozenset()  # label ids a requeue from rework dropped
    label_status: dict[str, str] = {}
    created_at: datetime | None = None
    status_cause: str | None = None  # the latest own event review reacts to (stale_echo)


def stale_echo(status_cause: str | None, metadata: Metadata) -> bool:
    """Whether review's status change is an echo of an own event labeling has moved past.

    Labeling sets a task's status itself on a skip, a requeue and a submission, and review
    reacts to each of those events with its own status change (a SYSTEM action caused by
    that event). When review runs behind, the reaction to an earlier event can arrive after
    a later one was applied: a skip's SKIPPED after the manager's requeue, which showed the
    task skipped again (and refused the annotator who had claimed it since) until the
    requeue's reaction came. A reaction counts only when it answers ``status_cause``, the
    latest such event; review's reaction to that one has the last word. Review's own
    decisions (reviewers, managers) always count. The read model applies the same rule in
    SQL (``consumers.learn_workflow``)."""
    return (
        metadata.actor_role == "SYSTEM"
        and metadata.causation_id is not None
        and status_cause is not None
        and metadata.causation_id != status_cause
    )


def status_after_submit(status: str, submitted: int, required: int, review_required: bool) -> str:
    """Where a task goes when a label is submitted (DOMAIN.md, "Workflow").

    A resubmission in rework leaves the status to review: only review knows which of the
    task's labels it still rejects. Moving the task to review here, on the count of labels
    ever submitted, left a consensus task IN_REVIEW while another of its labels was still
    rejected, with that label's author locked out of it, and review never moved it back
    because, to review, it had never left rework.
    """
    if status == "IN_REWORK":
        return status
    if submitted < required:
        return "TO_LABEL"
    return "IN_REVIEW" if review_required else "DONE"


def evolve(
    state: TaskState,
    event: Event,
    at: datetime | None,
    review_required: bool = True,
    *,
    event_id: str | None = None,
    metadata: Metadata | None = None,
) -> TaskState:
    """The state after ``event`` (recorded ``at``, with ``event_id`` and ``metadata``)."""
    r = msgspec.structs.replace
    match event:
        case TaskCreated():
            return r(
                state,
                project_id=event.project_id,
                data_row_id=event.data_row_id,
                batch_id=event.batch_id,
                priority=event.priority,
                required_labels=event.required_labels,
                created_at=at,
            )
        case TaskLeased():
            return r(
                state,
                leases={**state.leases, event.user_id: Lease(event.label_id, event.expires_at)},
                labels={**state.labels, event.label_id: event.user_id},
            )
        case TaskReleased():
            return r(state, leases={k: v for k, v in state.leases.items() if k != event.user_id})
        case TaskSkipped():
            return r(
                state,
                status="SKIPPED",
                status_cause=event_id,
                leases={k: v for k, v in state.leases.items() if k != event.user_id},
            )
        case TaskRequeued():
            return r(state, status="TO_LABEL", status_cause=event_id, leases={})
        case LabelSubmitted() if event.label_id in state.dropped:
            return r(state, status_cause=event_id)
        case LabelSubmitted():
            submitted = state.submitted | {event.label_id}
            status = status_after_submit(state.status, len(submitted), state.required_labels, review_required)
            return r(
                state,
                submitted=submitted,
                status=status,
                status_cause=event_id,
                label_status={**state.label_status, event.label_id: "SUBMITTED"},
                leases={k: v for k, v in state.leases.items() if k != event.author_id},
            )
        case TaskStatusChanged() if event.dropped_label_ids:
            dropped = frozenset(event.dropped_label_ids)
            return r(
                state,
                status=event.to_status,
                submitted=state.submitted - dropped,
                dropped=state.dropped | dropped,
                label_status={**state.label_status, **dict.fromkeys(dropped, "REJECTED")},
            )
        case TaskStatusChanged() if metadata is not None and stale_echo(state.status_cause, metadata):
            return state
        case TaskStatusChanged():
            return r(state, status=event.to_status)
        case LabelApproved() | LabelRejected() if event.label_id in state.dropped:
            return state
        case LabelApproved():
            return r(state, label_status={**state.label_status, event.label_id: "APPROVED"})
        case LabelRejected():
            return r(state, label_status={**state.label_status, event.label_id: "REJECTED"})
    return state


def check_can_act(
    *,
    status: str,
    user_id: str,
    has_label: bool,
    lease_user: str | None,
    lease_expires_at: datetime | None,
    now: datetime,
) -> None:
    """Refuse acting on a task that is not open, or that the caller has not claimed.

    In rework the label's author may act without a lease (their label came back to them).
    """
    if status not in OPEN:
        raise Invalid(f"the task is {status.lower().replace('_', ' ')}; no more actions", {"task_id": status})
    if status == "IN_REWORK":
        if not has_label:
            raise Forbidden("only the label's author may rework it")
        return
    if lease_user != user_id or lease_expires_at is None or lease_expires_at <= now:
        raise Forbidden("claim the task first (you hold no lease on it)")
