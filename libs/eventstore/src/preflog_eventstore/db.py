"""Connection pools and start-up migration."""

from __future__ import annotations

import asyncio
import time
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import structlog

from preflog_eventstore.conn import Conn
from preflog_eventstore.migrate import Migration, all_migrations, apply_migrations

log = structlog.get_logger(__name__)

DATABASE_UNAVAILABLE = "the database is not reachable just now; retry"
"""What a client is told (as UNAVAILABLE) when :func:`connection_lost` is true."""


def connection_lost(exc: BaseException) -> bool:
    """Whether ``exc`` says the database connection went away (a restart, a failover, an
    ended session, a network cut) rather than that the statement was wrong: callers answer
    UNAVAILABLE (retry later), never INTERNAL. asyncpg reports an idle pooled connection
    the server ended in several ways, one of them an ``InternalClientError`` about protocol
    states (MagicStack/asyncpg#1069); the pool replaces such a connection on its next use."""
    if isinstance(exc, asyncpg.InterfaceError):
        # The client's side of a closed connection, not its misuse ("another operation is
        # in progress" is a bug of ours and stays INTERNAL, with its trace).
        return any(s in str(exc) for s in _CLOSED)
    return isinstance(
        exc,
        asyncpg.PostgresConnectionError  # SQLSTATE 08: connection exceptions
        | asyncpg.exceptions.OperatorInterventionError  # 57: admin/crash shutdown, ended session
        | asyncpg.InternalClientError
        | ConnectionError,  # a socket's errors, and DatabaseUnreachable (no new connection)
    ) and not isinstance(exc, asyncpg.exceptions.QueryCanceledError)


_CLOSED = ("connection is closed", "released back to the pool", "pool is clos")


async def unlock_advisory(conn: Conn, key: int) -> None:
    """Give up a session's advisory lock (a leader stepping down). On a connection the
    server ended, the lock went with the session: the error that ended it is the one worth
    reporting, not this call's."""
    try:
        await conn.execute("select pg_advisory_unlock($1)", key)
    except Exception as exc:
        if not connection_lost(exc):
            raise


class LostConnections:
    """Has a pool replace its connections once one was found dead.

    A Postgres restart or failover ends every session at once, but asyncpg learns that an
    idle pooled connection is dead only when it next uses it, and sometimes (asyncpg#1069)
    fails that use with an ``InternalClientError`` while the connection still looks open.
    Expiring the pool's connections when the first loss is seen makes each next acquire
    reconnect instead of failing in turn. At most once per ``interval`` seconds, so a burst
    of failures does not churn the fresh connections.
    """

    def __init__(self, pool: asyncpg.Pool, *, interval: float = 1.0) -> None:
        self.pool = pool
        self.interval = interval
        self._last = -interval
        self.recycled = 0

    async def noticed(self, exc: BaseException) -> bool:
        """Whether ``exc`` is a lost connection (see :func:`connection_lost`); if so, the
        pool's connections are expired (unless that was done just now)."""
        if not connection_lost(exc):
            return False
        now = time.monotonic()
        if now - self._last >= self.interval:
            self._last = now
            self.recycled += 1
            await self.pool.expire_connections()
        return True


def _quiet_stale_closes(loop: asyncio.AbstractEventLoop) -> None:
    """After ``expire_connections`` asyncpg closes each old connection in a task of its own
    that nobody awaits (when the connection is next acquired). On a server that went away,
    that close fails on the dead socket, and asyncio logged "Task exception was never
    retrieved" with a trace: an error report for a connection already replaced. This turns
    exactly that case into one log line; every other unretrieved exception is reported as
    before. Installed once per loop."""
    previous = loop.get_exception_handler()
    if getattr(previous, "quiets_stale_closes", False):
        return

    def handler(loop: asyncio.AbstractEventLoop, context: dict[str, Any]) -> None:
        task, exc = context.get("task") or context.get("future"), context.get("exception")
        coro = task.get_coro() if isinstance(task, asyncio.Task) else None
        if isinstance(exc, OSError) and getattr(coro, "__qualname__", "") == "Connection.close":
            log.info("db.old_connection_close_failed", error=repr(exc))
            return
        if previous is not None:
            previous(loop, context)
        else:
            loop.default_exception_handler(context)

    handler.quiets_stale_closes = True  # type: ignore[attr-defined]
    loop.set_exception_handler(handler)


class DatabaseUnreachable(ConnectionError):
    """A pool could not open a connection: the server is down, restarting or out of reach.
    asyncpg raises whatever the socket said (``ConnectionRefusedError`` over TCP, a
    ``FileNotFoundError`` for a Unix socket whose server is stopped, a timeout); pools made
    here raise this instead, so :func:`connection_lost` can tell it from other errors."""


async def _connect(*args: Any, **kwargs: Any) -> asyncpg.Connection:
    try:
        return await asyncpg.connect(*args, **kwargs)
    except OSError as exc:  # ConnectionRefusedError, FileNotFoundError, TimeoutError, ...
        raise DatabaseUnreachable(f"{type(exc).__name__}: {exc}") from exc


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
    _quiet_stale_closes(asyncio.get_running_loop())
    pool = await asyncpg.create_pool(
        dsn,
        min_size=min_size,
        max_size=max_size,
        connect=_connect,
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
