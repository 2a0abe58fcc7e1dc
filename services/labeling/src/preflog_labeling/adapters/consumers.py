"""What labeling learns from other services, through JetStream consumers with an inbox.

- ``dataset`` / ``datarow`` (ingest): datasets and canonical data rows into our own tables.
- ``prelabels`` (ingest): pre-labels per project and row, seeded into labels that start later.
- ``workflow`` (review): task status changes and review decisions on labels (applied by
  ``WorkflowProjection`` reading the log by category; see bootstrap).
"""

from __future__ import annotations

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.catalog import DataRowImported, DatasetCreated, PreLabelsImported
from preflog_contracts.events.review import LabelApproved, LabelRejected, TaskStatusChanged

CATALOG_CATEGORIES = ("dataset", "datarow", "prelabels")
WORKFLOW_CATEGORIES = ("workflow",)
_json = msgspec.json.Encoder()

Conn = asyncpg.Connection | PoolConnectionProxy


async def learn_catalog(conn: Conn, rec: RecordedEvent) -> None:
    """Copy datasets, data rows and pre-labels (idempotent: replays change nothing)."""
    event = decode_event_data(rec.event_type, rec.schema_version, rec.data)
    if isinstance(event, DatasetCreated):
        await conn.execute(
            "insert into labeling.datasets (dataset_id, org_id, name, created_at) values ($1, $2, $3, $4)"
            " on conflict (dataset_id) do nothing",
            event.dataset_id,
            rec.org_id,
            event.name,
            rec.recorded_at,
        )
    elif isinstance(event, DataRowImported):
        await conn.execute(
            "insert into labeling.data_rows (data_row_id, org_id, dataset_id, global_key, external_id, row,"
            " metadata, created_at) values ($1, $2, $3, $4, $5, $6::jsonb, $7::jsonb, $8)"
            " on conflict (data_row_id) do nothing",
            event.data_row_id,
            rec.org_id,
            event.dataset_id,
            event.global_key,
            event.external_id,
            _json.encode(event.row).decode(),
            _json.encode(event.metadata).decode(),
            rec.recorded_at,
        )
    elif isinstance(event, PreLabelsImported):
        # Several imports for one row add up; a label started later gets them all.
        await conn.execute(
            "insert into labeling.prelabels (project_id, data_row_id, org_id, source, prelabels)"
            " values ($1, $2, $3, $4, $5::jsonb) on conflict (project_id, data_row_id) do update"
            " set prelabels = labeling.prelabels.prelabels || excluded.prelabels, source = excluded.source",
            event.project_id,
            event.data_row_id,
            rec.org_id,
            event.source,
            _json.encode(event.prelabels).decode(),
        )


async def learn_workflow(conn: Conn, rec: RecordedEvent) -> None:
    """Review's decisions: the task's workflow status and the label's review status."""
    event = decode_event_data(rec.event_type, rec.schema_version, rec.data)
    if isinstance(event, TaskStatusChanged):
        if event.dropped_label_ids:
            await _drop_labels(conn, rec.org_id, event.task_id, event.dropped_label_ids)
        # A reaction to an own event labeling has moved past since is not applied: the same
        # rule as domain.task.stale_echo, as a condition (a reaction names its cause).
        reaction_to = rec.metadata.causation_id if rec.metadata.actor_role == "SYSTEM" else None
        await conn.execute(
            "update labeling.tasks set status = $3, updated_at = now() where task_id = $1 and org_id = $2"
            " and ($4::text is null or status_cause is null or status_cause = $4)",
            event.task_id,
            rec.org_id,
            event.to_status,
            reaction_to,
        )
    elif isinstance(event, LabelApproved | LabelRejected):
        status = "APPROVED" if isinstance(event, LabelApproved) else "REJECTED"
        await conn.execute(
            "update labeling.assignments set label_status = $3 where label_id = $1 and org_id = $2",
            event.label_id,
            rec.org_id,
            status,
        )


async def _drop_labels(conn: Conn, org_id: str, task_id: str, label_ids: list[str]) -> None:
    """Labels a requeue from rework dropped: REJECTED for good, their authors locked out, and
    no longer counted in the task's submitted labels (every dropped label was submitted, so
    each was counted once). The task's row is locked first, as every writer of the count does
    (ADR 0031); a submission decided on the count before this commits adds to it rather than
    overwriting it (``_SUBMITTED_TASK``)."""
    await conn.execute("select 1 from labeling.tasks where task_id = $1 and org_id = $2 for update", task_id, org_id)
    dropped = await conn.fetchval(
        "with d as (update labeling.assignments set dropped = true, label_status = 'REJECTED',"
        " lease_expires_at = null where task_id = $1 and org_id = $2 and label_id = any($3::text[])"
        " and not dropped returning 1) select count(*) from d",
        task_id,
        org_id,
        label_ids,
    )
    if dropped:
        await conn.execute(
            "update labeling.tasks set submitted_labels = greatest(submitted_labels - $2, 0) where task_id = $1",
            task_id,
            dropped,
        )
