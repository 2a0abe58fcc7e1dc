"""pytest plugin: one fixture set for real Postgres and NATS, isolated per run.

Fixtures (all async ones run on the session's event loop):
- ``infra``: where the servers are (see :mod:`preflog_testing.infra`).
- ``database_url``: a database made for this run from a migrated template, dropped at the end.
- ``fresh_database_url``: a new migrated database for one test (for tests that read the
  whole log and must see only their own events).
- ``namespace`` / ``fresh_namespace``: NATS subject and stream prefix for the run / one test.
- ``settings``, ``pool``, ``store``, ``nc``, ``js``: ready-made clients for the run's database
  and namespace.
"""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Iterator

import asyncpg
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js import JetStreamContext

from preflog_eventstore import EventStore, create_database, create_pool, drop_database, migrate
from preflog_messaging import connect, delete_namespace_streams, ensure_events_stream
from preflog_settings import Settings, load_settings
from preflog_testing.infra import Infra, choose_infra

RUN_ID = uuid.uuid4().hex[:10]


@pytest.fixture(scope="session")
def infra() -> Iterator[Infra]:
    found = choose_infra()
    yield found
    found.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def template_database(infra: Infra) -> AsyncIterator[str]:
    """A migrated database nobody connects to, copied for each run and each fresh test."""
    name = f"preflog_tpl_{RUN_ID}"
    dsn = await create_database(infra.admin_dsn, name)
    await migrate(dsn)
    yield name
    await drop_database(infra.admin_dsn, name)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def database_url(infra: Infra, template_database: str) -> AsyncIterator[str]:
    name = f"preflog_test_{RUN_ID}"
    dsn = await create_database(infra.admin_dsn, name, template=template_database)
    yield dsn
    await drop_database(infra.admin_dsn, name)


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_database_url(infra: Infra, template_database: str) -> AsyncIterator[str]:
    name = f"preflog_t_{RUN_ID}_{uuid.uuid4().hex[:8]}"
    dsn = await create_database(infra.admin_dsn, name, template=template_database)
    yield dsn
    await drop_database(infra.admin_dsn, name)


@pytest.fixture(scope="session")
def namespace() -> str:
    return f"t{RUN_ID}"


@pytest.fixture
def fresh_namespace() -> str:
    return f"t{RUN_ID}{uuid.uuid4().hex[:6]}"


@pytest.fixture(scope="session")
def settings(infra: Infra, database_url: str, namespace: str) -> Settings:
    return load_settings(
        {},
        database_url=database_url,
        nats_url=infra.nats_url,
        namespace=namespace,
        log_format="console",
        load_demo=False,
        url_allow_hosts="127.0.0.1,localhost",
    )


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def pool(database_url: str) -> AsyncIterator[asyncpg.Pool]:
    p = await create_pool(database_url, min_size=2, max_size=20)
    yield p
    await p.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def store(pool: asyncpg.Pool) -> EventStore:
    return EventStore(pool)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def nc(infra: Infra) -> AsyncIterator[Client]:
    client = await connect(infra.nats_url, name="preflog-tests")
    yield client
    # Pull subscriptions left by tests make drain() wait out its 30 s timeout.
    with contextlib.suppress(Exception):
        await asyncio.wait_for(client.drain(), 2)
    with contextlib.suppress(Exception):
        await client.close()


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def js(nc: Client, namespace: str) -> AsyncIterator[JetStreamContext]:
    context = nc.jetstream()
    await ensure_events_stream(context, namespace)
    yield context
    with contextlib.suppress(Exception):
        await delete_namespace_streams(context, namespace)


def pytest_report_header(config: pytest.Config) -> str:
    return f"preflog test run {RUN_ID}"


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_store(fresh_database_url: str) -> AsyncIterator[EventStore]:
    """An event store over a database of its own (nothing else's events in its log)."""
    p = await create_pool(fresh_database_url, min_size=2, max_size=40)
    yield EventStore(p)
    await p.close()
