"""Who may see which project: a read model of project ownership and membership events.

The gateway uses it to filter the audit log and live subscriptions before anything leaves
the process; the owning services still check every command themselves.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.projects import (
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    ProjectCreated,
)
from preflog_eventstore.conn import Conn

ACCESS = "gateway.project_access"
_WATCHED = {"ProjectCreated", "MemberAdded", "MemberRoleChanged", "MemberRemoved"}


class ProjectAccessProjection:
    name = "gateway.project_access"
    categories: Sequence[str] | None = ("project",)
    tables: Sequence[str] = (ACCESS,)

    async def apply(
        self,
        conn: Conn,
        events: Sequence[RecordedEvent],
        tables_map: Mapping[str, str],
    ) -> None:
        table = tables_map[ACCESS]
        for rec in events:
            if rec.event_type not in _WATCHED:
                continue
            event = decode_event_data(rec.event_type, rec.schema_version, rec.data)
            if isinstance(event, ProjectCreated):
                owner = event.owner_id or rec.metadata.actor_id
                await _upsert(conn, table, event.project_id, rec.org_id, owner, "OWNER")
            elif isinstance(event, MemberAdded | MemberRoleChanged):
                await _upsert(conn, table, event.project_id, rec.org_id, event.user_id, event.role)
            elif isinstance(event, MemberRemoved):
                await conn.execute(
                    f"delete from {table} where project_id = $1 and user_id = $2",
                    event.project_id,
                    event.user_id,
                )


async def _upsert(
    conn: Conn, table: str, project_id: str, org_id: str, user_id: str, role: str
) -> None:
    await conn.execute(
        f"insert into {table} (project_id, org_id, user_id, role) values ($1, $2, $3, $4)"
        " on conflict (project_id, user_id) do update set role = excluded.role",
        project_id,
        org_id,
        user_id,
        role,
    )


async def project_roles(pool: asyncpg.Pool, org_id: str, user_id: str) -> dict[str, str]:
    """The caller's role in each project of their org that they belong to."""
    rows = await pool.fetch(
        "select project_id, role from gateway.project_access"
        " where org_id = $1::uuid and user_id = $2",
        org_id,
        user_id,
    )
    return {r[0]: r[1] for r in rows}
