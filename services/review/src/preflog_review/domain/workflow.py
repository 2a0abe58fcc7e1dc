"""The task workflow as a pure state machine over the ``workflow-<task_id>`` stream.

State is the fold of that stream (``fold_workflow``); commands are functions of the state
that return the events to append (or raise ``Invalid``). Review owns the stream: it is the
only writer of task status, and labeling follows it.

Statuses (DOMAIN.md, "Workflow"): ``TO_LABEL`` --submit--> ``IN_REVIEW`` (``DONE`` where
review is off) --approve--> ``DONE``; ``IN_REVIEW`` --reject--> ``IN_REWORK`` --resubmit-->
``IN_REVIEW``; any open task --skip--> ``SKIPPED``; requeue -> ``TO_LABEL``. A consensus task
enters review once it holds its required number of counting labels.

A label's review state is decided by comparing log positions: a decision (approve or
reject) counts for a label only if it comes after the label's latest submission, because a
resubmission can only follow the rejection it answers.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Literal

import msgspec

from preflog_contracts.errors import Invalid
from preflog_contracts.events.base import Event
from preflog_contracts.events.review import LabelApproved, LabelRejected, TaskStatusChanged

TaskStatus = Literal["TO_LABEL", "IN_REVIEW", "IN_REWORK", "DONE", "SKIPPED"]
LabelReviewState = Literal["SUBMITTED", "APPROVED", "REJECTED"]
OPEN_STATUSES: frozenset[str] = frozenset({"TO_LABEL", "IN_REVIEW", "IN_REWORK"})


class Decision(msgspec.Struct, frozen=True):
    kind: Literal["APPROVED", "REJECTED"]
    position: int  # global position of the decision event


class WorkflowState(msgspec.Struct, kw_only=True):
    task_id: str
    project_id: str
    status: TaskStatus = "TO_LABEL"
    version: int = -1  # stream version: expected version of the next append
    decisions: dict[str, Decision] = msgspec.field(default_factory=dict)  # latest per label
    dropped: set[str] = msgspec.field(default_factory=set)  # rejected for good (requeued)


class SubmittedLabel(msgspec.Struct, frozen=True):
    """A label the read model knows as submitted, with its latest submission's position."""

    label_id: str
    submitted_position: int


class ProjectRules(msgspec.Struct, frozen=True, kw_only=True):
    review_required: bool
    required_labels: int  # for this task (see ``required_label_count`` in the contracts)


def fold_workflow(
    task_id: str, project_id: str, events: Iterable[tuple[Event, int, int]]
) -> WorkflowState:
    """State from ``(event, stream_position, global_position)`` in stream order."""
    state = WorkflowState(task_id=task_id, project_id=project_id)
    for event, stream_position, global_position in events:
        state.version = stream_position
        if isinstance(event, TaskStatusChanged):
            state.status = event.to_status  # type: ignore[assignment]
            state.dropped.update(event.dropped_label_ids)
        elif isinstance(event, LabelApproved):
            state.decisions[event.label_id] = Decision("APPROVED", global_position)
        elif isinstance(event, LabelRejected):
            state.decisions[event.label_id] = Decision("REJECTED", global_position)
    return state


def label_review_state(state: WorkflowState, label: SubmittedLabel) -> LabelReviewState:
    """SUBMITTED until a decision after the label's latest submission; then that decision.
    A label dropped by a requeue stays REJECTED, whatever comes after."""
    if label.label_id in state.dropped:
        return "REJECTED"
    decision = state.decisions.get(label.label_id)
    if decision is None or decision.position < label.submitted_position:
        return "SUBMITTED"
    return decision.kind


def counting_labels(state: WorkflowState, labels: Sequence[SubmittedLabel]) -> list[str]:
    """Labels that count towards the task's label total: submitted or approved."""
    return [lab.label_id for lab in labels if label_review_state(state, lab) != "REJECTED"]


def _move(
    state: WorkflowState, to: TaskStatus, reason: str = "", label_id: str | None = None
) -> list[Event]:
    if state.status == to:
        return []
    return [
        TaskStatusChanged(
            task_id=state.task_id,
            project_id=state.project_id,
            from_status=state.status,
            to_status=to,
            reason=reason,
            label_id=label_id,
        )
    ]


def on_label_submitted(
    state: WorkflowState,
    rules: ProjectRules,
    labels: Sequence[SubmittedLabel],
    label_id: str,
) -> list[Event]:
    """Status change after ``label_id`` was submitted (``labels`` includes it).

    Once the task holds ``required_labels`` counting labels it enters IN_REVIEW, or is DONE
    where review is off (a consensus task waits for its labels either way); a DONE or
    SKIPPED task does not move.
    """
    if state.status not in OPEN_STATUSES:
        return []
    if len(counting_labels(state, labels)) < rules.required_labels:
        return []
    return _move(state, "IN_REVIEW" if rules.review_required else "DONE", label_id=label_id)


def on_task_skipped(state: WorkflowState, reason: str) -> list[Event]:
    """Any open task becomes SKIPPED."""
    if state.status not in OPEN_STATUSES:
        return []
    return _move(state, "SKIPPED", reason=reason)


def on_task_requeued(state: WorkflowState) -> list[Event]:
    """A requeued task goes back to TO_LABEL (from wherever it was)."""
    return _move(state, "TO_LABEL")


def requeue_rework(state: WorkflowState, labels: Sequence[SubmittedLabel]) -> TaskStatusChanged:
    """A task in rework back to TO_LABEL, its rejected labels dropped for good.

    For a task whose rework nobody will do (its author left the project, or stopped
    working): the rejected labels stop counting and their authors may no longer rework
    them, so annotators who have not labeled the task can claim it and fill their places.
    The labels stay in the log and the audit, rejected. Raises ``Invalid`` unless the task
    is IN_REWORK.
    """
    if state.status != "IN_REWORK":
        status = state.status.lower().replace("_", " ")
        raise Invalid(
            f"the task is {status}; only a task in rework is requeued this way",
            {"taskId": f"the task is {status}, not in rework"},
        )
    dropped = [
        lab.label_id
        for lab in labels
        if lab.label_id not in state.dropped and label_review_state(state, lab) == "REJECTED"
    ]
    return TaskStatusChanged(
        task_id=state.task_id,
        project_id=state.project_id,
        from_status=state.status,
        to_status="TO_LABEL",
        reason="requeued from rework; its rejected labels were dropped",
        dropped_label_ids=dropped,
    )


REVIEWABLE_STATUSES: frozenset[str] = frozenset({"IN_REVIEW", "IN_REWORK", "DONE"})
"""Where a task's labels may be approved or rejected. A task still collecting labels (or
skipped) is not in review: a rejection would send it to rework, where nobody could claim it
to give it the labels it still lacks. A DONE task's labels may be decided where review is
off (rejecting one sends the task to rework)."""


def _require_submitted(state: WorkflowState, label: SubmittedLabel | None) -> SubmittedLabel:
    if state.status not in REVIEWABLE_STATUSES:
        status = state.status.lower().replace("_", " ")
        raise Invalid(
            f"the task is {status}; its labels are reviewed once it is in review",
            {"labelId": f"the task is {status}, not in review"},
        )
    if label is None or label_review_state(state, label) != "SUBMITTED":
        raise Invalid(
            "only a submitted label can be reviewed", {"labelId": "label is not SUBMITTED"}
        )
    return label


def approve(
    state: WorkflowState,
    labels: Sequence[SubmittedLabel],
    label_id: str,
    comment: str,
) -> list[Event]:
    """LabelApproved; the task becomes DONE when it is IN_REVIEW and no label awaits review.

    Raises ``Invalid`` if the label is not SUBMITTED (never submitted, or already decided).
    """
    by_id = {lab.label_id: lab for lab in labels}
    _require_submitted(state, by_id.get(label_id))
    events: list[Event] = [
        LabelApproved(
            label_id=label_id, task_id=state.task_id, project_id=state.project_id, comment=comment
        )
    ]
    others_pending = any(
        lab.label_id != label_id and label_review_state(state, lab) == "SUBMITTED" for lab in labels
    )
    if state.status == "IN_REVIEW" and not others_pending:
        events += _move(state, "DONE", label_id=label_id)
    return events


def reject(
    state: WorkflowState,
    labels: Sequence[SubmittedLabel],
    label_id: str,
    reason: str,
) -> list[Event]:
    """LabelRejected and the task to IN_REWORK with the reason, for its annotator to see.

    Raises ``Invalid`` for a blank reason or a label that is not SUBMITTED.
    """
    if not reason.strip():
        raise Invalid("a rejection needs a reason", {"reason": "required"})
    by_id = {lab.label_id: lab for lab in labels}
    _require_submitted(state, by_id.get(label_id))
    events: list[Event] = [
        LabelRejected(
            label_id=label_id, task_id=state.task_id, project_id=state.project_id, reason=reason
        )
    ]
    if state.status != "SKIPPED":
        events += _move(state, "IN_REWORK", reason=reason, label_id=label_id)
    return events
