"""Versioned, idempotent schema migrations for every component.

Each component (the event log, each service) ships ``NNNN_name.sql`` files in a package
directory. Applying takes an advisory lock, so concurrent start-ups migrate once.

A migration runs in one transaction, unless its first line is ``-- preflog: no transaction``:
then each of its statements (ended by a ``;`` at the end of a line) runs on its own, for the
statements Postgres refuses in a transaction (``create index concurrently``, which builds an
index on a live table without blocking its writes). Such a migration must be safe to run
again from the start, since it is recorded only after its last statement.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from importlib import resources

from preflog_eventstore.conn import Conn

_LOCK_KEY = 7_305_001  # advisory lock id reserved for migrations
_NO_TRANSACTION = "-- preflog: no transaction"


@dataclass(frozen=True)
class Migration:
    component: str
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()

    @property
    def in_transaction(self) -> bool:
        return not self.sql.startswith(_NO_TRANSACTION)

    def statements(self) -> list[str]:
        """The statements of a migration that runs outside a transaction, each alone (sent
        together, Postgres would run them in one implicit transaction)."""
        out: list[str] = []
        current: list[str] = []
        for line in self.sql.splitlines():
            current.append(line)
            if line.rstrip().endswith(";"):
                out.append("\n".join(current))
                current = []
        if "\n".join(current).strip():
            out.append("\n".join(current))
        return out


def load_migrations(component: str, package: str) -> list[Migration]:
    """Read ``NNNN_name.sql`` files from ``package`` (a ``migrations`` package dir)."""
    out = []
    for entry in resources.files(package).iterdir():
        if entry.name.endswith(".sql"):
            version_text, _, rest = entry.name.partition("_")
            out.append(Migration(component, int(version_text), rest[:-4], entry.read_text()))
    return sorted(out, key=lambda m: m.version)


def eventlog_migrations() -> list[Migration]:
    return load_migrations("eventlog", "preflog_eventstore.migrations")


async def apply_migrations(conn: Conn, migrations: list[Migration]) -> list[str]:
    """Apply what is not applied yet, in order; returns the names applied now.

    Raises RuntimeError if an applied migration's file changed since (never edit those).
    """
    applied_now: list[str] = []
    await conn.execute("select pg_advisory_lock($1)", _LOCK_KEY)
    try:
        await conn.execute(
            """create table if not exists public.schema_migrations (
                 component text not null, version int not null, name text not null,
                 checksum text not null, applied_at timestamptz not null default now(),
                 primary key (component, version))"""
        )
        rows = await conn.fetch("select component, version, checksum from public.schema_migrations")
        done = {(r["component"], r["version"]): r["checksum"] for r in rows}
        for m in migrations:
            key = (m.component, m.version)
            if key in done:
                if done[key] != m.checksum:
                    raise RuntimeError(
                        f"migration {m.component}/{m.version} changed after it was applied"
                    )
                continue
            if not m.in_transaction:
                for statement in m.statements():
                    await conn.execute(statement)
            async with conn.transaction():
                if m.in_transaction:
                    await conn.execute(m.sql)
                await conn.execute(
                    "insert into public.schema_migrations (component, version, name, checksum)"
                    " values ($1, $2, $3, $4)",
                    m.component,
                    m.version,
                    m.name,
                    m.checksum,
                )
            applied_now.append(f"{m.component}/{m.version:04d}_{m.name}")
    finally:
        await conn.execute("select pg_advisory_unlock($1)", _LOCK_KEY)
    return applied_now


def all_migrations() -> list[Migration]:
    """The event log's migrations and every installed component's.

    A service registers a function returning its migrations under the entry-point group
    ``preflog.migrations``; so the event store needs no knowledge of services.
    """
    from importlib.metadata import entry_points

    out = eventlog_migrations()
    for ep in sorted(entry_points(group="preflog.migrations"), key=lambda e: e.name):
        out.extend(ep.load()())
    return out
