"""The accounts read model (schema ``gateway``), folded from the accounts events."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.accounts import (
    ApiTokenIssued,
    ApiTokenRevoked,
    OrganizationCreated,
    UserCreated,
)
from preflog_eventstore.conn import Conn

ORGS = "gateway.organizations"
USERS = "gateway.users"
TOKENS = "gateway.api_tokens"


class AccountsProjection:
    name = "gateway.accounts"
    categories: Sequence[str] | None = ("org", "user", "token")
    tables: Sequence[str] = (ORGS, USERS, TOKENS)

    async def apply(
        self,
        conn: Conn,
        events: Sequence[RecordedEvent],
        tables_map: Mapping[str, str],
    ) -> None:
        for rec in events:
            event = decode_event_data(rec.event_type, rec.schema_version, rec.data)
            if isinstance(event, OrganizationCreated):
                await conn.execute(
                    f"insert into {tables_map[ORGS]} (org_id, name, created_at)"
                    " values ($1, $2, $3) on conflict do nothing",
                    event.org_id,
                    event.name,
                    rec.recorded_at,
                )
            elif isinstance(event, UserCreated):
                await conn.execute(
                    f"insert into {tables_map[USERS]}"
                    " (user_id, org_id, email, name, org_role, is_operator, created_at)"
                    " values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
                    event.user_id,
                    rec.org_id,
                    event.email,
                    event.name,
                    event.org_role,
                    event.is_operator,
                    rec.recorded_at,
                )
            elif isinstance(event, ApiTokenIssued):
                await conn.execute(
                    f"insert into {tables_map[TOKENS]}"
                    " (token_id, user_id, org_id, name, prefix, token_hash, created_at)"
                    " values ($1, $2, $3, $4, $5, $6, $7) on conflict do nothing",
                    event.token_id,
                    event.user_id,
                    rec.org_id,
                    event.name,
                    event.prefix,
                    event.token_hash,
                    rec.recorded_at,
                )
            elif isinstance(event, ApiTokenRevoked):
                await conn.execute(
                    f"update {tables_map[TOKENS]} set revoked_at = $2"
                    " where token_id = $1 and revoked_at is null",
                    event.token_id,
                    rec.recorded_at,
                )
