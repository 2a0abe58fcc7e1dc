"""An item's label facts give one result in whatever order they arrive.

Events of one category reach the export in log order but for one case: the events a dead
instance had fetched and not acknowledged come back after the ack wait, behind later ones.
An approval could then land before the submission it approves, or a resubmission after the
review that followed it, and the export lost the approval (the label stayed SUBMITTED).
"""

from __future__ import annotations

import itertools
from datetime import timedelta
from typing import Any

import msgspec

from preflog_contracts.datarow import DataRow, Message
from preflog_contracts.events.labels import Crown, LabelSnapshot
from preflog_export.domain import ExportItem, Person
from preflog_export.domain.item_updates import (
    DataRowInfo,
    has_label,
    new_item,
    with_benchmark_reference,
    with_review,
    with_submitted_label,
    with_workflow_status,
)

from .conftest import T0, text, three_responses

ALICE, BOB = Person(id="alice"), Person(id="bob")
SNAP_1 = LabelSnapshot(crowns=[Crown(prompt_id="p1", response_id="A")])
SNAP_2 = LabelSnapshot(crowns=[Crown(prompt_id="p1", response_id="B")])

# (position, fact): the label submitted, rejected, submitted again, approved; a reference
# set; the task's workflow moving on.
FACTS: list[tuple[int, tuple[Any, ...]]] = [
    (10, ("submit", SNAP_1)),
    (11, ("workflow", "IN_REVIEW")),
    (20, ("review", "REJECT")),
    (21, ("workflow", "IN_REWORK")),
    (30, ("submit", SNAP_2)),
    (40, ("review", "APPROVE")),
    (41, ("workflow", "DONE")),
    (50, ("reference",)),
]


def _item() -> ExportItem:
    row = DataRow(
        messages=[Message(id="m1", role="user", content=text("question?"))],
        prompts=[three_responses()],
    )
    return new_item(
        project_id="proj",
        task_id="t",
        data_row_id="d",
        batch_id="b",
        row=DataRowInfo(global_key="k", row=row),
        rank_mode="FULL_ORDER",
        project_name="P",
    )


def _apply(item: ExportItem, position: int, fact: tuple[Any, ...]) -> ExportItem | None:
    """The fact applied as the read model applies it; None when it must wait (NotYet)."""
    at = T0 + timedelta(minutes=position)
    kind = fact[0]
    if kind == "submit":
        return with_submitted_label(
            item,
            label_id="l",
            author=ALICE,
            snapshot=fact[1],
            submitted_at=at,
            started_at=T0,
            position=position,
        )
    if kind == "workflow":
        return with_workflow_status(item, fact[1], position)
    if not has_label(item, "l"):
        return None
    if kind == "reference":
        return with_benchmark_reference(item, "l", position)
    return with_review(item, label_id="l", action=fact[1], reviewer=BOB, at=at, position=position)


def _fold(order: list[tuple[int, tuple[Any, ...]]]) -> ExportItem:
    """Apply in ``order``; a fact that must wait comes again after the others (as a
    redelivery does)."""
    item, pending = _item(), list(order)
    while pending:
        position, fact = pending.pop(0)
        applied = _apply(item, position, fact)
        if applied is None:
            pending.append((position, fact))
        else:
            item = applied
    return item


def test_every_arrival_order_gives_the_log_orders_item() -> None:
    in_order = _fold(FACTS)
    (label,) = in_order.labels
    assert (label.status, label.snapshot, label.is_benchmark_reference) == (
        "APPROVED",
        SNAP_2,
        True,
    )
    assert label.approved_at == T0 + timedelta(minutes=40)
    assert label.submitted_at == T0 + timedelta(minutes=30)
    assert [r.action for r in label.reviews] == ["REJECT", "APPROVE"]
    assert in_order.workflow_status == "DONE"
    # Every order of the eight facts (40,320): the same item.
    for order in itertools.permutations(FACTS):
        assert _fold(list(order)) == in_order, order


def test_a_late_older_submission_neither_reopens_nor_replaces_the_label() -> None:
    approved = _fold([(30, ("submit", SNAP_2)), (40, ("review", "APPROVE"))])
    late = _apply(approved, 10, ("submit", SNAP_1))
    assert late is not None
    (label,) = late.labels
    assert (label.status, label.snapshot) == ("APPROVED", SNAP_2)


def test_items_stored_before_positions_take_later_events_as_before() -> None:
    """An item written by an earlier version (positions 0): every new event is later."""
    old = _fold([(10, ("submit", SNAP_1))])
    old = msgspec.structs.replace(
        old,
        labels=[
            msgspec.structs.replace(
                old.labels[0], status_position=0, snapshot_position=0, review_positions=[]
            )
        ],
    )
    reviewed = _apply(old, 5, ("review", "APPROVE"))
    assert reviewed is not None and reviewed.labels[0].status == "APPROVED"
