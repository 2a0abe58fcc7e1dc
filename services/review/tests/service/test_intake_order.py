"""A submission that reaches review's intake before its project waits for it (ADR 0026).

After a crash, the events a dead instance had fetched come back after the ack wait, behind
later ones. The intake used to log and drop a submission of a project it did not know yet,
and the task never moved to review.
"""

from __future__ import annotations

import uuid

import msgspec
import pytest

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.events.labels import LabelSnapshot, LabelSubmitted
from preflog_contracts.events.projects import ProjectCreated
from preflog_eventstore import EventStore, StreamWrite
from preflog_messaging import NotYet
from preflog_review.adapters.intake import Intake
from preflog_testing.waiting import org_log


async def test_a_submission_of_a_project_not_seen_yet_waits(fresh_store: EventStore) -> None:
    org = str(uuid.uuid4())
    submitted = LabelSubmitted(
        label_id="l",
        task_id="t",
        project_id="p-unknown",
        data_row_id="d",
        author_id="ann",
        snapshot=LabelSnapshot(),
    )
    await fresh_store.append(
        StreamWrite(stream_name("label", "l"), [submitted]),
        org_id=org,
        metadata=Metadata(actor_id="ann", actor_role="MEMBER", task_id="t", label_id="l"),
    )
    [rec] = await org_log(fresh_store, org, 1)
    async with fresh_store.pool.acquire() as conn:
        with pytest.raises(NotYet):
            async with conn.transaction():
                await Intake(fresh_store).handle(conn, rec)
        # Rolled back with it: the redelivery finds nothing half-applied.
        assert await conn.fetchval("select count(*) from review.labels") == 0


async def test_a_submission_of_a_task_not_seen_yet_waits(fresh_store: EventStore) -> None:
    """The project is known, the task's creation still to come: the reaction would set a
    status on no row, and the late TaskCreated would then show the task TO_LABEL."""
    org, project = str(uuid.uuid4()), "p-known"
    meta = Metadata(actor_id="ann", actor_role="MEMBER", project_id=project)
    await fresh_store.append(
        StreamWrite(
            stream_name("project", project), [ProjectCreated(project_id=project, name="P")]
        ),
        org_id=org,
        metadata=meta,
    )
    submitted = LabelSubmitted(
        label_id="l2",
        task_id="t2",
        project_id=project,
        data_row_id="d",
        author_id="ann",
        snapshot=LabelSnapshot(),
    )
    await fresh_store.append(
        StreamWrite(stream_name("label", "l2"), [submitted]),
        org_id=org,
        metadata=msgspec.structs.replace(meta, task_id="t2", label_id="l2"),
    )
    created, rec = await org_log(fresh_store, org, 2)
    intake = Intake(fresh_store)
    async with fresh_store.pool.acquire() as conn:
        async with conn.transaction():
            await intake.handle(conn, created)
        with pytest.raises(NotYet):
            async with conn.transaction():
                await intake.handle(conn, rec)
        assert await conn.fetchval("select count(*) from review.labels") == 0
