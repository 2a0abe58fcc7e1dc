"""Where ``preflog up`` finds Postgres and NATS: configured URLs, else the local default
ports if something answers there, else embedded servers in the data directory."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urlsplit

import asyncpg
import msgspec

from preflog_eventstore.db import create_database, with_database
from preflog_settings import Settings
from preflog_settings.local import LOCAL_NATS, LOCAL_POSTGRES, reachable

DATABASE = "preflog"


async def ensure_database(admin_dsn: str, database: str) -> str:
    """The DSN of ``database``, created first if it does not exist yet."""
    with contextlib.suppress(asyncpg.DuplicateDatabaseError):
        return await create_database(admin_dsn, database)
    return with_database(admin_dsn, database)


async def check_database(dsn: str) -> None:
    """Fail with one clear line, not a traceback, when the configured database cannot be used."""
    parts = urlsplit(dsn)
    where = f"{parts.hostname or 'localhost'}:{parts.port or 5432}"
    name = parts.path.lstrip("/") or parts.username or "postgres"
    try:
        conn = await asyncpg.connect(dsn, timeout=15)
    except asyncpg.InvalidCatalogNameError:
        raise SystemExit(
            f"PREFLOG_DATABASE_URL: there is no database {name!r} on {where}; create it"
            f" (createdb {name}) or leave PREFLOG_DATABASE_URL unset to use a database"
            " 'preflog' on a local or embedded server"
        ) from None
    except (OSError, TimeoutError, asyncpg.PostgresError) as exc:
        raise SystemExit(
            f"PREFLOG_DATABASE_URL: cannot connect to Postgres on {where}: {exc}"
        ) from None
    await conn.close()


@dataclass
class ResolvedInfra:
    settings: Settings
    described: dict[str, str]
    stops: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for stop in reversed(self.stops):
            with contextlib.suppress(Exception):
                stop()


async def resolve(settings: Settings, *, allow_embedded: bool) -> ResolvedInfra:
    described: dict[str, str] = {}
    stops: list[Callable[[], None]] = []
    data_dir = Path(settings.data_dir)
    database_url = settings.database_url
    if database_url:
        await check_database(database_url)
        described["postgres"] = "configured"
    elif reachable("127.0.0.1", 5432):
        database_url = await ensure_database(LOCAL_POSTGRES, DATABASE)
        described["postgres"] = "local server on 127.0.0.1:5432"
    elif allow_embedded:
        from preflog_eventstore.embedded import EmbeddedPostgres

        pg = EmbeddedPostgres(data_dir / "postgres")
        database_url = await ensure_database(pg.start(), DATABASE)
        stops.append(pg.stop)
        described["postgres"] = f"embedded in {data_dir / 'postgres'}"
    else:
        raise SystemExit("no Postgres: set PREFLOG_DATABASE_URL")
    nats_url = settings.nats_url
    if nats_url:
        described["nats"] = "configured"
    elif reachable("127.0.0.1", 4222):
        nats_url = LOCAL_NATS
        described["nats"] = "local server on 127.0.0.1:4222"
    elif allow_embedded:
        from preflog_messaging.embedded import EmbeddedNats

        server = EmbeddedNats(data_dir / "nats", port=4222)
        nats_url = server.start()
        stops.append(server.stop)
        described["nats"] = f"embedded in {data_dir / 'nats'}"
    else:
        raise SystemExit("no NATS: set PREFLOG_NATS_URL")
    resolved = msgspec.structs.replace(settings, database_url=database_url, nats_url=nats_url)
    return ResolvedInfra(resolved, described, stops)
