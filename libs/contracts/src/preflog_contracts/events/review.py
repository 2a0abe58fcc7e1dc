"""Workflow, review decisions and issues (owned by review)."""

from __future__ import annotations

from preflog_contracts.events.base import Event
from preflog_contracts.events.labels import Target

DROPPED_POSITION = 2**62
"""For read models that order a label's status by the log position that set it: the position
to give a label a requeue dropped (``TaskStatusChanged.dropped_label_ids``). It is after every
position in the log, so no submission or review of it, in whatever order the events arrive,
makes it count again."""


class TaskStatusChanged(Event, frozen=True, kw_only=True):
    category = "workflow"
    task_id: str
    project_id: str
    from_status: str
    to_status: str  # TO_LABEL | IN_REVIEW | IN_REWORK | DONE | SKIPPED
    reason: str = ""
    label_id: str | None = None
    # A task in rework requeued by a manager: its rejected labels stop counting for good
    # (their authors may not rework them), so other annotators can fill their places.
    dropped_label_ids: list[str] = []


class LabelApproved(Event, frozen=True, kw_only=True):
    category = "workflow"
    label_id: str
    task_id: str
    project_id: str
    comment: str = ""


class LabelRejected(Event, frozen=True, kw_only=True):
    category = "workflow"
    label_id: str
    task_id: str
    project_id: str
    reason: str


class MarkedForReview(Event, frozen=True, kw_only=True):
    category = "workflow"
    label_id: str
    task_id: str
    project_id: str
    note: str = ""
    target: Target = Target()
    question_id: str | None = None


class BenchmarkReferenceSet(Event, frozen=True, kw_only=True):
    category = "workflow"
    label_id: str
    task_id: str
    project_id: str
    data_row_id: str


class IssueOpened(Event, frozen=True, kw_only=True):
    category = "issue"
    issue_id: str
    project_id: str
    task_id: str
    body: str
    label_id: str | None = None
    target: Target = Target()
    question_id: str | None = None


class IssueCommented(Event, frozen=True, kw_only=True):
    category = "issue"
    issue_id: str
    comment_id: str
    body: str


class IssueResolved(Event, frozen=True, kw_only=True):
    category = "issue"
    issue_id: str
    resolution: str = ""
