"""Choosing the Postgres and NATS a test run talks to.

Order: ``PREFLOG_TEST_DATABASE_URL``/``PREFLOG_TEST_NATS_URL``; else the local default ports
if something answers there; else testcontainers when a Docker engine answers; else the
embedded servers. Each run then makes its own database and NATS namespace.
"""

from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

from preflog_settings.local import LOCAL_NATS, LOCAL_POSTGRES, reachable


def docker_available() -> bool:
    try:
        import docker  # type: ignore[import-untyped]

        docker.from_env(timeout=2).ping()
        return True
    except Exception:
        return False


@dataclass
class Infra:
    admin_dsn: str
    nats_url: str
    kinds: tuple[str, str]
    _stops: list[Callable[[], None]] = field(default_factory=list)

    def close(self) -> None:
        for stop in reversed(self._stops):
            with contextlib.suppress(Exception):
                stop()


def _postgres(stops: list[Callable[[], None]], workdir: Path) -> tuple[str, str]:
    if url := os.environ.get("PREFLOG_TEST_DATABASE_URL"):
        return url, "env"
    if reachable("127.0.0.1", 5432):
        return LOCAL_POSTGRES, "local"
    if docker_available():
        from testcontainers.postgres import PostgresContainer  # type: ignore[import-untyped]

        container = PostgresContainer("postgres:16-alpine", driver=None).start()
        stops.append(container.stop)
        return str(container.get_connection_url()), "testcontainers"
    from preflog_eventstore.embedded import EmbeddedPostgres

    server = EmbeddedPostgres(workdir / "pg")
    dsn = server.start()
    stops.append(server.stop)
    return dsn, "embedded"


def _nats(stops: list[Callable[[], None]], workdir: Path) -> tuple[str, str]:
    if url := os.environ.get("PREFLOG_TEST_NATS_URL"):
        return url, "env"
    if reachable("127.0.0.1", 4222):
        return LOCAL_NATS, "local"
    if docker_available():
        from testcontainers.nats import NatsContainer  # type: ignore[import-untyped]

        container = NatsContainer("nats:2.10-alpine").with_command("-js").start()
        stops.append(container.stop)
        return str(container.nats_uri()), "testcontainers"
    from preflog_messaging.embedded import EmbeddedNats

    server = EmbeddedNats(workdir / "nats")
    url = server.start()
    stops.append(server.stop)
    return url, "embedded"


def choose_infra() -> Infra:
    stops: list[Callable[[], None]] = []
    workdir = Path(tempfile.mkdtemp(prefix="preflog-test-"))
    dsn, pg_kind = _postgres(stops, workdir)
    url, nats_kind = _nats(stops, workdir)
    return Infra(dsn, url, (pg_kind, nats_kind), stops)
