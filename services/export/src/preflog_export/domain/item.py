"""The export read model's unit: one task with everything every format needs.

The service builds an :class:`ExportItem` from events and stores it encoded with msgspec;
formats only read it. Fields with defaults are omitted when encoded, so a typical item
stays small.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

import msgspec

from preflog_contracts.datarow import DataRow
from preflog_contracts.events.labels import LabelSnapshot
from preflog_contracts.events.projects import Question

LabelStatus = Literal["SUBMITTED", "APPROVED", "REJECTED"]
ReviewAction = Literal["APPROVE", "REJECT"]
TaskStatus = Literal["TO_LABEL", "IN_REVIEW", "IN_REWORK", "DONE", "SKIPPED"]

LABEL_STATUSES: frozenset[str] = frozenset({"SUBMITTED", "APPROVED", "REJECTED"})


class Person(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """A user as the export shows them; email and name only when the read model knows them."""

    id: str
    email: str | None = None
    name: str | None = None


class Review(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One review decision on a label, in the order it happened."""

    action: ReviewAction
    reviewer: Person
    at: datetime
    comment: str = ""


class ExportLabel(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One annotator's submitted work on the task (drafts never reach the export model)."""

    label_id: str
    author: Person
    status: LabelStatus
    snapshot: LabelSnapshot
    submitted_at: datetime
    started_at: datetime | None = None  # lease time; gives Labelbox's seconds_to_create
    approved_at: datetime | None = None
    reviews: list[Review] = msgspec.field(default_factory=list)
    consensus_score: float | None = None
    benchmark_score: float | None = None
    is_benchmark_reference: bool = False
    # Log positions of the events that set the status, the snapshot and each review: events
    # can arrive out of log order (a dead instance's unacknowledged ones come back behind
    # later ones), and the later event in the log wins whichever arrives first. Not exported.
    status_position: int = 0
    snapshot_position: int = 0
    review_positions: list[int] = msgspec.field(default_factory=list)


class ExportItem(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One task in one project: the data row, the ontology in force and every label."""

    project_id: str
    task_id: str
    data_row_id: str
    global_key: str
    batch_id: str
    workflow_status: TaskStatus
    row: DataRow
    questions: list[Question] = msgspec.field(default_factory=list)
    labels: list[ExportLabel] = msgspec.field(default_factory=list)
    rank_mode: str = "FULL_ORDER"  # FULL_ORDER: rank 1 is best | SCALE_0_3: 3 is best
    project_name: str = ""
    external_id: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    workflow_position: int = 0  # of the event that set workflow_status (see ExportLabel)
    reference_position: int = 0  # of the last BenchmarkReferenceSet applied
