"""The intake: labeling's and ingest's events from JetStream into the read model, plus the
workflow policy they trigger (a submitted label moves its task; skip and requeue too).

Runs inside the consumer's inbox transaction, so learning and the status events it appends
commit together, exactly once per event.
"""

from __future__ import annotations

import structlog

from preflog_contracts.envelope import Metadata, RecordedEvent
from preflog_contracts.events.base import Event
from preflog_contracts.events.labels import LabelSubmitted, TaskRequeued, TaskSkipped
from preflog_contracts.identity import SYSTEM_ACTOR
from preflog_contracts.rpc.review import required_label_count
from preflog_eventstore import EventStore, StreamWrite
from preflog_eventstore.conn import Conn
from preflog_messaging import NotYet
from preflog_review.adapters.read_model import HANDLED_TYPES, apply_event, decode
from preflog_review.adapters.tables import LIVE
from preflog_review.adapters.workflow_stream import (
    load_workflow,
    submitted_labels,
    workflow_stream,
)
from preflog_review.domain.workflow import (
    ProjectRules,
    WorkflowState,
    on_label_submitted,
    on_task_requeued,
    on_task_skipped,
)

log = structlog.get_logger(__name__)
INTAKE_TYPES: frozenset[str] = HANDLED_TYPES | {"TaskSkipped", "TaskRequeued"}
"""The event types :meth:`Intake.handle` acts on; the consumer leaves the rest unread."""


class Intake:
    """``handle`` is the consumer handler (``runtime.consumer("review_intake", ...)``)."""

    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def handle(self, conn: Conn, rec: RecordedEvent) -> None:
        event = decode(rec)
        if event is None:
            return
        await apply_event(conn, LIVE, rec, event)
        if isinstance(event, LabelSubmitted):
            await self._react(conn, rec, event.task_id, event.project_id, event.label_id, event)
        elif isinstance(event, TaskSkipped | TaskRequeued):
            await self._react(conn, rec, event.task_id, event.project_id, None, event)

    async def _react(
        self,
        conn: Conn,
        rec: RecordedEvent,
        task_id: str,
        project_id: str,
        label_id: str | None,
        event: Event,
    ) -> None:
        project = await conn.fetchrow(
            f"select quality_mode, consensus_label_count, consensus_coverage, review_required,"
            f" exists (select 1 from {LIVE.tasks} t where t.task_id = $2) as task_known"
            f" from {LIVE.projects} where project_id = $1",
            project_id,
            task_id,
        )
        # Its ProjectCreated or TaskCreated is still to come (ADR 0026). Without the task's
        # row, the status this reaction sets would be lost, and the task's creation would
        # then show it TO_LABEL.
        if project is None:
            raise NotYet(f"task {task_id}: project {project_id} not seen yet")
        if not project["task_known"]:
            raise NotYet(f"task {task_id} not seen yet")
        rules = ProjectRules(
            review_required=project["review_required"],
            required_labels=required_label_count(
                task_id,
                project["quality_mode"],
                project["consensus_label_count"],
                project["consensus_coverage"],
            ),
        )
        metadata = Metadata(
            actor_id=SYSTEM_ACTOR,
            actor_role="SYSTEM",
            correlation_id=rec.metadata.correlation_id,
            causation_id=rec.event_id,
            project_id=project_id,
            task_id=task_id,
            label_id=label_id,
        )
        state = await load_workflow(self.store, conn, task_id, project_id)
        events = await self._decide(conn, state, rules, label_id, event)
        if not events:
            return
        # One attempt: the append joins the consumer's transaction, and a failed statement
        # aborts it, so deciding again here is impossible. When a reviewer acted on the task
        # at the same moment, WrongExpectedVersion fails the transaction and the consumer
        # applies the event again on its own (then redelivers it), on fresh state.
        await self.store.append(
            StreamWrite(workflow_stream(task_id), events, state.version),
            org_id=rec.org_id,
            metadata=metadata,
            conn=conn,
        )

    async def _decide(
        self,
        conn: Conn,
        state: WorkflowState,
        rules: ProjectRules,
        label_id: str | None,
        event: Event,
    ) -> list[Event]:
        if isinstance(event, LabelSubmitted) and label_id is not None:
            labels = await submitted_labels(conn, state.task_id)
            return on_label_submitted(state, rules, labels, label_id)
        if isinstance(event, TaskSkipped):
            return on_task_skipped(state, event.reason)
        return on_task_requeued(state)
