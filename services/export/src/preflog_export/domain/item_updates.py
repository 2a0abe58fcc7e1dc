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
) -> ExportItem:
    """The label submitted (first time) or resubmitted after rework: its snapshot replaces
    the earlier one, status back to SUBMITTED; review history and lease time are kept."""
    labels = list(item.labels)
    for i, label in enumerate(labels):
        if label.label_id == label_id:
            labels[i] = msgspec.structs.replace(
                label,
                status="SUBMITTED",
                snapshot=snapshot,
                submitted_at=submitted_at,
                approved_at=None,
                started_at=label.started_at or started_at,
            )
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
            )
        )
    return msgspec.structs.replace(item, labels=labels)


def with_review(
    item: ExportItem,
    *,
    label_id: str,
    action: ReviewAction,
    reviewer: Person,
    at: datetime,
    comment: str = "",
) -> ExportItem:
    """An approval or rejection of one of the item's labels (unknown labels: unchanged)."""
    labels = list(item.labels)
    for i, label in enumerate(labels):
        if label.label_id == label_id:
            review = Review(action=action, reviewer=reviewer, at=at, comment=comment)
            labels[i] = msgspec.structs.replace(
                label,
                status="APPROVED" if action == "APPROVE" else "REJECTED",
                approved_at=at if action == "APPROVE" else None,
                reviews=[*label.reviews, review],
            )
            return msgspec.structs.replace(item, labels=labels)
    return item


def with_workflow_status(item: ExportItem, status: str) -> ExportItem:
    if status not in TASK_STATUSES or status == item.workflow_status:
        return item
    return msgspec.structs.replace(item, workflow_status=cast(TaskStatus, status))


def with_benchmark_reference(item: ExportItem, label_id: str) -> ExportItem:
    """Mark ``label_id`` as the row's benchmark reference (and no other label)."""
    labels = [
        msgspec.structs.replace(label, is_benchmark_reference=label.label_id == label_id)
        for label in item.labels
    ]
    return msgspec.structs.replace(item, labels=labels)


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
