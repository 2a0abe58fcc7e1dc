"""Connection pools and start-up migration."""

from __future__ import annotations

from urllib.parse import urlsplit, urlunsplit

import asyncpg

from preflog_eventstore.migrate import Migration, all_migrations, apply_migrations


async def _init_connection(conn: asyncpg.Connection) -> None:
    # Short transactions keep gap-safe readers from lagging (ARCHITECTURE.md).
    await conn.execute("set idle_in_transaction_session_timeout = '60s'")


async def _reset_connection(conn: asyncpg.Connection) -> None:
    # asyncpg's default reset runs "pg_advisory_unlock_all; CLOSE ALL; UNLISTEN *; RESET ALL"
    # on every release: one more round trip per query, and RESET ALL would undo the settings
    # above. Pooled connections keep no session state here (the relay unlocks its advisory
    # lock itself), so only an abandoned transaction needs undoing.
    if conn.is_in_transaction():
        await conn.execute("rollback")


async def create_pool(dsn: str, *, min_size: int = 2, max_size: int = 10) -> asyncpg.Pool:
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        init=_init_connection,
        reset=_reset_connection,
        command_timeout=60,
        max_inactive_connection_lifetime=300,
    )
    assert pool is not None
    return pool


def with_database(dsn: str, database: str) -> str:
    """The DSN pointed at another database (host, port, user and socket kept)."""
    parts = urlsplit(dsn)
    return urlunsplit((parts.scheme, parts.netloc, "/" + database, parts.query, parts.fragment))


async def create_database(admin_dsn: str, name: str, *, template: str | None = None) -> str:
    """Create database ``name`` (a copy of ``template`` if given); returns its DSN.

    Raises asyncpg.DuplicateDatabaseError if it exists.
    """
    conn = await asyncpg.connect(admin_dsn)
    try:
        suffix = f' template "{template}"' if template else ""
        await conn.execute(f'create database "{name}"{suffix}')
    finally:
        await conn.close()
    return with_database(admin_dsn, name)


async def drop_database(admin_dsn: str, name: str) -> None:
    """Drop database ``name`` if it exists, disconnecting whoever is still in it."""
    conn = await asyncpg.connect(admin_dsn)
    try:
        await conn.execute(f'drop database if exists "{name}" with (force)')
    finally:
        await conn.close()


async def migrate(dsn: str, extra: list[Migration] | None = None) -> list[str]:
    """Apply every installed component's migrations (and ``extra``); returns what ran now."""
    conn = await asyncpg.connect(dsn)
    try:
        return await apply_migrations(conn, all_migrations() + list(extra or []))
    finally:
        await conn.close()
