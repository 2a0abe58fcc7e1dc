"""Loading a task's workflow state from its stream, and the labels the read model knows."""

from __future__ import annotations

from preflog_contracts.envelope import stream_name
from preflog_contracts.events.review import TaskStatusChanged
from preflog_eventstore import EventStore
from preflog_eventstore.conn import Conn
from preflog_review.adapters.read_model import decode
from preflog_review.adapters.tables import LIVE
from preflog_review.domain.workflow import SubmittedLabel, WorkflowState, fold_workflow


def workflow_stream(task_id: str) -> str:
    return stream_name(TaskStatusChanged.category, task_id)


async def load_workflow(
    store: EventStore, conn: Conn, task_id: str, project_id: str
) -> WorkflowState:
    """The task's state folded from ``workflow-<task_id>`` (the source of truth, never stale)."""
    records = await store.read_stream(workflow_stream(task_id), conn=conn)
    events = []
    for rec in records:
        event = decode(rec)
        if event is not None:
            events.append((event, rec.stream_position, rec.global_position))
    return fold_workflow(task_id, project_id, events)


async def submitted_labels(conn: Conn, task_id: str) -> list[SubmittedLabel]:
    rows = await conn.fetch(
        f"select label_id, submitted_position from {LIVE.labels}"
        " where task_id = $1 and submitted_position > 0 order by label_id",
        task_id,
    )
    return [SubmittedLabel(r[0], r[1]) for r in rows]
