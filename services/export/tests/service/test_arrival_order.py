"""The export read model ends the same whatever order a task's events arrive in.

After a crash, the events a dead instance had fetched and not acknowledged come back after
the ack wait, behind later ones: an approval reached the export before the submission it
approved and was dropped, and the export then showed the label SUBMITTED for good (a
failure of ``tests/e2e/test_crash_recovery.py``). Events that need one still to come now
wait for it (``NotYet``), and the log's later event decides a label's status.
"""

from __future__ import annotations

import uuid
from collections.abc import Sequence
from datetime import UTC, datetime, timedelta

import pytest

from preflog_contracts.datarow import DataRow, Message, PromptPoint, Response
from preflog_contracts.envelope import Metadata, RecordedEvent, stream_name
from preflog_contracts.errors import Forbidden
from preflog_contracts.events.base import Event
from preflog_contracts.events.catalog import DataRowImported
from preflog_contracts.events.labels import LabelSubmitted, TaskCreated, TaskLeased
from preflog_contracts.events.projects import (
    BatchCreated,
    MemberAdded,
    MemberRemoved,
    OntologyUpdated,
    ProjectCreated,
    ProjectSettings,
    ProjectSettingsChanged,
    Question,
)
from preflog_contracts.events.review import LabelApproved, LabelRejected, TaskStatusChanged
from preflog_contracts.identity import Identity
from preflog_eventstore import EventStore, StreamWrite
from preflog_export.adapters.access import project_for_export
from preflog_export.adapters.read_model import ExportReadModel, item_decoder
from preflog_export.domain import ExportItem
from preflog_messaging import NotYet
from preflog_testing.waiting import org_log

from .conftest import snapshot_for, text

ORG = str(uuid.uuid4())


async def _log(store: EventStore) -> list[RecordedEvent]:
    """A task's life: created, leased, submitted, rejected, submitted again, approved."""
    project, row_id, task, label = "proj-order", "row-order", "task-order", "label-order"
    row = DataRow(
        messages=[Message(id="m1", role="user", content=text("question?"))],
        prompts=[
            PromptPoint(
                id="p1",
                after_message_id="m1",
                responses=[Response(id=r, title=r, content=text(r)) for r in ("A", "B", "C")],
            )
        ],
    )

    appended = 0

    async def append(stream: str, events: Sequence[Event], actor: str = "ann") -> None:
        nonlocal appended
        appended += len(events)
        await store.append(
            StreamWrite(stream, events),
            org_id=ORG,
            metadata=Metadata(
                actor_id=actor,
                actor_role="MEMBER",
                project_id=project,
                task_id=task,
                label_id=label,
            ),
        )

    status = TaskStatusChanged
    await append(
        stream_name("datarow", row_id),
        [
            DataRowImported(
                data_row_id=row_id,
                dataset_id="ds",
                global_key="gk",
                row=row,
                source_format="native",
            )
        ],
    )
    await append(stream_name("project", project), [ProjectCreated(project_id=project, name="P")])
    await append(
        stream_name("project", project),
        [BatchCreated(project_id=project, batch_id="b", data_row_ids=[row_id])],
    )
    await append(
        stream_name("task", task),
        [
            TaskCreated(task_id=task, project_id=project, data_row_id=row_id, batch_id="b"),
            TaskLeased(
                task_id=task,
                project_id=project,
                user_id="ann",
                label_id=label,
                expires_at=datetime.now(UTC) + timedelta(hours=1),
            ),
        ],
    )
    for snapshot, review, to_status in (
        (
            snapshot_for(0),
            LabelRejected(label_id=label, task_id=task, project_id=project, reason="r"),
            "IN_REWORK",
        ),
        (snapshot_for(1), LabelApproved(label_id=label, task_id=task, project_id=project), "DONE"),
    ):
        await append(
            stream_name("label", label),
            [
                LabelSubmitted(
                    label_id=label,
                    task_id=task,
                    project_id=project,
                    data_row_id=row_id,
                    author_id="ann",
                    snapshot=snapshot,
                )
            ],
        )
        await append(
            stream_name("workflow", task),
            [
                review,
                status(
                    task_id=task, project_id=project, from_status="IN_REVIEW", to_status=to_status
                ),
            ],
            actor="rev",
        )
    return await org_log(store, ORG, appended)


async def _arrive(store: EventStore, records: list[RecordedEvent]) -> ExportItem:
    """Apply ``records`` one at a time in the order given, each in its own transaction as
    the consumer does after a failed batch; one that must wait comes again after the rest.
    Returns the task's export item."""
    model = ExportReadModel("order")
    pending = list(records)
    waits = 0
    while pending:
        rec = pending.pop(0)
        try:
            async with store.pool.acquire() as conn, conn.transaction():
                await model.apply(conn, [rec])
        except NotYet:
            waits += 1
            assert waits < 100, "an event waits for one that never comes"
            pending.append(rec)
    blob = await store.pool.fetchval("select item from export.items where task_id = 'task-order'")
    await store.pool.execute(
        "truncate export.items, export.projects, export.data_rows, export.batches,"
        " export.label_starts, export.members, export.users"
    )
    return item_decoder.decode(blob)


def _shown(item: ExportItem) -> tuple[object, ...]:
    (label,) = item.labels
    return (
        item.workflow_status,
        label.status,
        label.snapshot,
        label.submitted_at,
        label.approved_at,
        [(r.action, r.at) for r in label.reviews],
    )


@pytest.mark.parametrize(
    "order",
    ["reversed", "approval before the resubmission", "submissions last", "every other first"],
)
async def test_a_tasks_export_item_is_the_same_whatever_order_its_events_arrive(
    fresh_store: EventStore, order: str
) -> None:
    records = await _log(fresh_store)
    types = [r.event_type for r in records]
    in_log_order = await _arrive(fresh_store, records)
    assert _shown(in_log_order)[:2] == ("DONE", "APPROVED")
    second_submit = len(types) - 1 - types[::-1].index("LabelSubmitted")
    arranged = {
        "reversed": records[::-1],
        # The crash case: the resubmission was fetched by the dead instance and comes back
        # after the approval that followed it.
        "approval before the resubmission": [
            *records[:second_submit],
            *records[second_submit + 1 :],
            records[second_submit],
        ],
        "submissions last": [r for r in records if r.event_type != "LabelSubmitted"]
        + [r for r in records if r.event_type == "LabelSubmitted"],
        "every other first": records[1::2] + records[::2],
    }[order]
    assert _shown(await _arrive(fresh_store, arranged)) == _shown(in_log_order)


async def test_a_removed_member_and_a_changed_ontology_stay_so_whatever_the_order(
    fresh_store: EventStore,
) -> None:
    """A late MemberAdded does not bring a removed manager back (they could export again),
    nor does a late earlier ontology or setting replace the current one."""
    project = "proj-members"
    meta = Metadata(actor_id="owner", actor_role="MEMBER", project_id=project)
    question = Question(id="q", title="Q", kind="YES_NO")
    events: list[Event] = [
        ProjectCreated(project_id=project, name="P"),
        MemberAdded(project_id=project, user_id="mgr", role="MANAGER"),
        OntologyUpdated(project_id=project, version=1, questions=[question]),
        ProjectSettingsChanged(project_id=project, settings=ProjectSettings(rank_mode="SCALE_0_3")),
        MemberRemoved(project_id=project, user_id="mgr"),
        OntologyUpdated(project_id=project, version=2, questions=[]),
    ]
    for event in events:
        await fresh_store.append(
            StreamWrite(stream_name("project", project), [event]), org_id=ORG, metadata=meta
        )
    records = await org_log(fresh_store, ORG, len(events))
    model = ExportReadModel("order")
    for rec in records[::-1]:
        async with fresh_store.pool.acquire() as conn, conn.transaction():
            await model.apply(conn, [rec])
    manager = Identity(user_id="mgr", org_id=ORG, org_role="MEMBER")
    with pytest.raises(Forbidden):
        await project_for_export(fresh_store.pool, manager, project)
    admin = Identity(user_id="boss", org_id=ORG, org_role="ADMIN")
    view, role = await project_for_export(fresh_store.pool, admin, project)
    assert (view.name, view.rank_mode, view.questions, role) == ("P", "SCALE_0_3", [], "ADMIN")
