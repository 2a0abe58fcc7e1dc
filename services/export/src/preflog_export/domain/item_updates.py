"""How events change an export item: pure ``item + fact -> item`` functions.

The read model decodes an event, looks up what it needs (the data row, people, the
ontology) and calls these; they never do I/O. Scores are recomputed with the review
service's pure scoring functions whenever the labels change.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any, cast

import msgspec

from preflog_contracts.datarow import DataRow
from preflog_contracts.events.labels import LabelSnapshot
from preflog_contracts.events.projects import Question
from preflog_contracts.events.review import DROPPED_POSITION
from preflog_export.domain.item import (
    ExportItem,
    ExportLabel,
    Person,
    Review,
    ReviewAction,
    TaskStatus,
)
from preflog_review.domain.consensus import task_consensus
from preflog_review.domain.label_agreement import benchmark_score

TASK_STATUSES: frozenset[str] = frozenset({"TO_LABEL", "IN_REVIEW", "IN_REWORK", "DONE", "SKIPPED"})


class DataRowInfo(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """What the export keeps of an imported data row."""

    global_key: str
    row: DataRow
    external_id: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)


def new_item(
    *,
    project_id: str,
    task_id: str,
    data_row_id: str,
    batch_id: str,
    row: DataRowInfo,
    rank_mode: str,
    project_name: str,
) -> ExportItem:
    """A freshly created task: its data row, no labels yet."""
    return ExportItem(
        project_id=project_id,
        task_id=task_id,
        data_row_id=data_row_id,
        global_key=row.global_key,
        batch_id=batch_id,
        workflow_status="TO_LABEL",
        row=row.row,
        rank_mode=rank_mode,
        project_name=project_name,
        external_id=row.external_id,
        metadata=row.metadata,
    )


def with_submitted_label(
    item: ExportItem,
    *,
    label_id: str,
    author: Person,
    snapshot: LabelSnapshot,
    submitted_at: datetime,
    started_at: datetime | None,
    position: int,
) -> ExportItem:
    """The label submitted (first time) or resubmitted after rework, by the event at log
    ``position``: its snapshot replaces an earlier one's, and its status is SUBMITTED again
    unless a review later in the log already decided it (that review arrived first); review
    history and lease time are kept. Applying the same facts in any order gives one result."""
    labels = list(item.labels)
    for i, label in enumerate(labels):
        if label.label_id == label_id:
            if position > label.snapshot_position:
                label = msgspec.structs.replace(
                    label, snapshot=snapshot, submitted_at=submitted_at, snapshot_position=position
                )
            if position > label.status_position:
                label = msgspec.structs.replace(
                    label, status="SUBMITTED", approved_at=None, status_position=position
                )
            labels[i] = msgspec.structs.replace(label, started_at=label.started_at or started_at)
            break
    else:
        labels.append(
            ExportLabel(
                label_id=label_id,
                author=author,
                status="SUBMITTED",
                snapshot=snapshot,
                submitted_at=submitted_at,
                started_at=started_at,
                status_position=position,
                snapshot_position=position,
            )
        )
    return msgspec.structs.replace(item, labels=labels)


def has_label(item: ExportItem, label_id: str) -> bool:
    return any(label.label_id == label_id for label in item.labels)


def with_review(
    item: ExportItem,
    *,
    label_id: str,
    action: ReviewAction,
    reviewer: Person,
    at: datetime,
    position: int,
    comment: str = "",
) -> ExportItem:
    """An approval or rejection of one of the item's labels, by the event at log
    ``position``: placed in the label's review history by position, and deciding its
    status unless an event later in the log already set it (unknown labels: unchanged; the
    read model waits for their submission first)."""
    labels = list(item.labels)
    for i, label in enumerate(labels):
        if label.label_id == label_id:
            review = Review(action=action, reviewer=reviewer, at=at, comment=comment)
            # Reviews kept before positions were: as old as anything.
            positions = [0] * (len(label.reviews) - len(label.review_positions))
            positions += label.review_positions
            at_index = sum(1 for p in positions if p < position)
            label = msgspec.structs.replace(
                label,
                reviews=[*label.reviews[:at_index], review, *label.reviews[at_index:]],
                review_positions=[*positions[:at_index], position, *positions[at_index:]],
            )
            if position > label.status_position:
                label = msgspec.structs.replace(
                    label,
                    status="APPROVED" if action == "APPROVE" else "REJECTED",
                    approved_at=at if action == "APPROVE" else None,
                    status_position=position,
                )
            labels[i] = label
            return msgspec.structs.replace(item, labels=labels)
    return item


def with_workflow_status(item: ExportItem, status: str, position: int) -> ExportItem:
    """The task's workflow status as set by the event at log ``position``, unless one later
    in the log already set it."""
    if status not in TASK_STATUSES or position <= item.workflow_position:
        return item
    return msgspec.structs.replace(
        item, workflow_status=cast(TaskStatus, status), workflow_position=position
    )


def with_dropped_labels(item: ExportItem, label_ids: Sequence[str]) -> ExportItem:
    """Labels a requeue from rework dropped: REJECTED for good (``DROPPED_POSITION``), so no
    submission or review of them, applied before or after, makes them count again."""
    dropped = set(label_ids)
    labels = [
        msgspec.structs.replace(
            label, status="REJECTED", approved_at=None, status_position=DROPPED_POSITION
        )
        if label.label_id in dropped
        else label
        for label in item.labels
    ]
    return msgspec.structs.replace(item, labels=labels)


def with_benchmark_reference(item: ExportItem, label_id: str, position: int) -> ExportItem:
    """Mark ``label_id`` as the row's benchmark reference (and no other label), unless a
    reference set later in the log was applied already."""
    if position <= item.reference_position:
        return item
    labels = [
        msgspec.structs.replace(label, is_benchmark_reference=label.label_id == label_id)
        for label in item.labels
    ]
    return msgspec.structs.replace(item, labels=labels, reference_position=position)


def with_scores(item: ExportItem, questions: Sequence[Question]) -> ExportItem:
    """Consensus scores among the submitted and approved labels (the benchmark reference
    left out) and benchmark scores against the reference, as the review service computes
    them; None where there is nothing to compare."""
    reference = next((label for label in item.labels if label.is_benchmark_reference), None)
    voting = {
        label.label_id: label.snapshot
        for label in item.labels
        if label.status != "REJECTED" and not label.is_benchmark_reference
    }
    consensus: dict[str, float | None] = {}
    if len(voting) >= 2:
        result = task_consensus(voting, questions)
        consensus = {entry.label_id: entry.score for entry in result.labels}
    labels = []
    for label in item.labels:
        bench = None
        if reference is not None and not label.is_benchmark_reference:
            bench = benchmark_score(label.snapshot, reference.snapshot, questions).score
        score = consensus.get(label.label_id)
        if score != label.consensus_score or bench != label.benchmark_score:
            label = msgspec.structs.replace(label, consensus_score=score, benchmark_score=bench)
        labels.append(label)
    return msgspec.structs.replace(item, labels=labels)


def label_statuses(item: ExportItem) -> list[str]:
    """The distinct statuses of the item's labels (what the read model filters on)."""
    return sorted({label.status for label in item.labels})
