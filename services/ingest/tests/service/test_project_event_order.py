"""Ingest's copy of project membership ends as the log says, whatever order events arrive in.

After a crash, the events a dead instance had fetched and not acknowledged come back after
the ack wait, behind later ones (ADR 0026): a late MemberAdded brought a removed member back,
who could then import pre-labels into the project again.
"""

from __future__ import annotations

import uuid

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.events.projects import (
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    OntologyUpdated,
    ProjectArchived,
    ProjectCreated,
    ProjectUnarchived,
    Question,
)
from preflog_eventstore import EventStore, StreamWrite
from preflog_ingest.adapters import project_tables
from preflog_ingest.adapters.project_consumer import learn_project_event
from preflog_testing.waiting import org_log


async def test_a_removed_member_stays_removed_whatever_the_arrival_order(
    fresh_store: EventStore,
) -> None:
    org, project = str(uuid.uuid4()), "proj-order"
    events = [
        ProjectCreated(project_id=project, name="P", owner_id="owner"),
        MemberAdded(project_id=project, user_id="ann", role="ANNOTATOR"),
        MemberRoleChanged(project_id=project, user_id="ann", role="MANAGER"),
        OntologyUpdated(
            project_id=project, version=1, questions=[Question(id="q", title="Q", kind="YES_NO")]
        ),
        MemberRemoved(project_id=project, user_id="ann"),
        MemberAdded(project_id=project, user_id="rev", role="REVIEWER"),
        ProjectArchived(project_id=project),
        OntologyUpdated(project_id=project, version=2, questions=[]),
        ProjectUnarchived(project_id=project),
    ]
    for event in events:
        await fresh_store.append(
            StreamWrite(stream_name("project", project), [event]),
            org_id=org,
            metadata=Metadata(actor_id="owner", actor_role="MEMBER", project_id=project),
        )
    records = await org_log(fresh_store, org, len(events))
    async with fresh_store.pool.acquire() as conn:
        for rec in records[::-1]:
            async with conn.transaction():
                await learn_project_event(conn, rec)
        assert await project_tables.role_in_project(conn, project, "ann") is None
        assert await project_tables.roles_in_org(conn, org, "ann") == set()
        assert await project_tables.role_in_project(conn, project, "rev") == "REVIEWER"
        assert await project_tables.role_in_project(conn, project, "owner") == "OWNER"
        loaded = await project_tables.load_project(conn, org, project)
    assert loaded is not None and loaded.questions == []
    assert not loaded.archived  # unarchived last, though it arrived first
