"""What the ingest handlers share: connections, the URL fetcher, limits, who may import."""

from __future__ import annotations

from dataclasses import dataclass

import asyncpg

from preflog_contracts.errors import NotFound
from preflog_contracts.identity import Identity
from preflog_eventstore import Conn, EventStore
from preflog_ingest.adapters import catalog_tables, project_tables
from preflog_ingest.adapters.url_fetcher import UrlFetcher
from preflog_ingest.domain import Limits
from preflog_ingest.domain.access import (
    may_browse_catalog,
    require_catalog_reader,
    require_manager,
)
from preflog_messaging.rpc import RpcClient
from preflog_settings import Settings


@dataclass
class IngestDeps:
    settings: Settings
    pool: asyncpg.Pool
    store: EventStore
    rpc: RpcClient
    fetcher: UrlFetcher
    limits: Limits
    instance: str
    """This process's id: import sessions live in the instance that started them."""

    async def import_role(self, conn: Conn, identity: Identity, dataset_id: str) -> str:
        """The caller's role for importing into ``dataset_id``; NotFound outside the org,
        Forbidden without ADMIN or a MANAGER/OWNER role in some project of the org."""
        if not await catalog_tables.dataset_exists(conn, identity.org_id, dataset_id):
            raise NotFound("dataset not found")
        roles = await project_tables.roles_in_org(conn, identity.org_id, identity.user_id)
        return require_manager(identity, roles, "import data rows")

    async def visible_rows(self, conn: Conn, identity: Identity, ids: list[str]) -> list[str]:
        """Those of the org's rows ``ids`` the caller may read (see ``domain.access``)."""
        roles = await project_tables.roles_in_org(conn, identity.org_id, identity.user_id)
        if not ids or may_browse_catalog(identity, roles):
            return ids
        seen = await project_tables.rows_reviewed_by(conn, identity.org_id, identity.user_id, ids)
        return [i for i in ids if i in seen]

    async def require_catalog_reader(self, conn: Conn, identity: Identity) -> None:
        roles = await project_tables.roles_in_org(conn, identity.org_id, identity.user_id)
        require_catalog_reader(identity, roles)


def limits_from(settings: Settings) -> Limits:
    return Limits(
        max_messages=settings.max_messages_per_row,
        max_message_chars=settings.max_message_chars,
        url_allow_hosts=allowed_hosts(settings),
    )


def allowed_hosts(settings: Settings) -> frozenset[str]:
    return frozenset(h.strip().lower() for h in settings.url_allow_hosts.split(",") if h.strip())
