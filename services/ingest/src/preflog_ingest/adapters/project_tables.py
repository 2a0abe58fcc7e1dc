"""What ingest knows about labeling's projects, learned from its events (never its tables):
the org, the latest ontology, members' roles and the data rows added in batches."""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from preflog_contracts.events.projects import Question
from preflog_eventstore import Conn

_questions = msgspec.json.Decoder(list[Question])
_encoder = msgspec.json.Encoder()


class ProjectRecord(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    org_id: str
    questions: list[Question]
    archived: bool


async def upsert_project(conn: Conn, project_id: str, org_id: str) -> None:
    await conn.execute(
        "insert into ingest.projects (project_id, org_id) values ($1, $2)"
        " on conflict (project_id) do nothing",
        project_id,
        org_id,
    )


async def set_ontology(
    conn: Conn, project_id: str, org_id: str, version: int, questions: Sequence[Question]
) -> None:
    """Keep the ontology of the highest version seen (events may be redelivered late)."""
    await upsert_project(conn, project_id, org_id)
    await conn.execute(
        "update ingest.projects set questions = $2::jsonb, ontology_version = $3"
        " where project_id = $1 and ontology_version < $3",
        project_id,
        _encoder.encode(list(questions)).decode(),
        version,
    )


async def set_archived(
    conn: Conn, project_id: str, org_id: str, archived: bool, position: int
) -> None:
    """Archived or not as the event at log ``position`` says, unless a later one said it."""
    await upsert_project(conn, project_id, org_id)
    await conn.execute(
        "update ingest.projects set archived = $2, archived_position = $3"
        " where project_id = $1 and archived_position < $3",
        project_id,
        archived,
        position,
    )


async def set_member(
    conn: Conn, project_id: str, org_id: str, user_id: str, role: str | None, position: int
) -> None:
    """The membership as the event at log ``position`` set it (``role`` None: removed, kept
    as a row without a role), unless an event later in the log set it already (ADR 0026)."""
    await upsert_project(conn, project_id, org_id)
    await conn.execute(
        "insert into ingest.project_members (project_id, user_id, org_id, role, position)"
        " values ($1, $2, $3, $4, $5) on conflict (project_id, user_id)"
        " do update set role = $4, position = $5 where ingest.project_members.position < $5",
        project_id,
        user_id,
        org_id,
        role,
        position,
    )


async def add_rows(conn: Conn, project_id: str, org_id: str, data_row_ids: Sequence[str]) -> None:
    await upsert_project(conn, project_id, org_id)
    await conn.execute(
        "insert into ingest.project_rows (project_id, data_row_id)"
        " select $1, unnest($2::text[]) on conflict do nothing",
        project_id,
        list(data_row_ids),
    )


async def roles_in_org(conn: Conn, org_id: str, user_id: str) -> set[str]:
    rows = await conn.fetch(
        "select distinct m.role from ingest.project_members m"
        " join ingest.projects p using (project_id)"
        " where m.org_id = $1 and m.user_id = $2 and m.role is not null and not p.archived",
        org_id,
        user_id,
    )
    return {r[0] for r in rows}


async def rows_reviewed_by(
    conn: Conn, org_id: str, user_id: str, data_row_ids: Sequence[str]
) -> set[str]:
    """Those of ``data_row_ids`` that are in a project where the user is a REVIEWER."""
    rows = await conn.fetch(
        "select distinct r.data_row_id from ingest.project_members m"
        " join ingest.project_rows r on r.project_id = m.project_id"
        " where m.org_id = $1 and m.user_id = $2 and m.role = 'REVIEWER'"
        " and r.data_row_id = any($3::text[])",
        org_id,
        user_id,
        list(data_row_ids),
    )
    return {r[0] for r in rows}


async def role_in_project(conn: Conn, project_id: str, user_id: str) -> str | None:
    role: str | None = await conn.fetchval(
        "select role from ingest.project_members where project_id = $1 and user_id = $2",
        project_id,
        user_id,
    )
    return role


async def load_project(conn: Conn, org_id: str, project_id: str) -> ProjectRecord | None:
    row = await conn.fetchrow(
        "select project_id, org_id::text, questions::text, archived from ingest.projects"
        " where project_id = $1 and org_id = $2",
        project_id,
        org_id,
    )
    if row is None:
        return None
    return ProjectRecord(
        project_id=row[0], org_id=row[1], questions=_questions.decode(row[2]), archived=row[3]
    )


async def rows_in_project(conn: Conn, project_id: str, data_row_ids: Sequence[str]) -> set[str]:
    rows = await conn.fetch(
        "select data_row_id from ingest.project_rows"
        " where project_id = $1 and data_row_id = any($2::text[])",
        project_id,
        list(data_row_ids),
    )
    return {r[0] for r in rows}
