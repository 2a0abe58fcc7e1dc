"""Learning labeling's projects from its events (JetStream consumer, category ``project``).

Pre-labels need a project's ontology and the rows in its batches; import rights need the
members' roles. ProjectCreated's ``owner_id`` counts as an OWNER member.
"""

from __future__ import annotations

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.projects import (
    BatchCreated,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    OntologyUpdated,
    ProjectArchived,
    ProjectCreated,
    ProjectUnarchived,
)
from preflog_eventstore import Conn
from preflog_ingest.adapters import project_tables

DURABLE = "ingest_projects"
CATEGORIES = ("project",)


async def learn_project_event(conn: Conn, recorded: RecordedEvent) -> None:
    """Apply one project event to ingest's tables (inside the consumer's inbox transaction)."""
    try:
        event = decode_event_data(recorded.event_type, recorded.schema_version, recorded.data)
    except KeyError:
        return  # a project event type this version does not know: nothing it needs
    org, at = recorded.org_id, recorded.global_position
    match event:
        case ProjectCreated(project_id=project_id, owner_id=owner_id):
            await project_tables.upsert_project(conn, project_id, org)
            if owner_id:
                await project_tables.set_member(conn, project_id, org, owner_id, "OWNER", at)
        case OntologyUpdated(project_id=project_id, version=version, questions=questions):
            await project_tables.set_ontology(conn, project_id, org, version, questions)
        case (
            MemberAdded(project_id=project_id, user_id=user_id, role=role)
            | MemberRoleChanged(project_id=project_id, user_id=user_id, role=role)
        ):
            await project_tables.set_member(conn, project_id, org, user_id, role, at)
        case MemberRemoved(project_id=project_id, user_id=user_id):
            await project_tables.set_member(conn, project_id, org, user_id, None, at)
        case BatchCreated(project_id=project_id, data_row_ids=data_row_ids):
            await project_tables.add_rows(conn, project_id, org, data_row_ids)
        case ProjectArchived(project_id=project_id):
            await project_tables.set_archived(conn, project_id, org, True, at)
        case ProjectUnarchived(project_id=project_id):
            await project_tables.set_archived(conn, project_id, org, False, at)
        case _:
            pass
