"""One ``preflog up`` per test module, on a database copied from the plugin's migrated
template (module-scoped, so it cannot be the function-scoped ``fresh_database_url``; it is
made the same way) and a namespace of its own."""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import pytest
import pytest_asyncio

from preflog_eventstore import create_database, drop_database
from preflog_testing.infra import Infra

from .running_system import System, preflog_up


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def system(
    infra: Infra, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[System]:
    name = f"preflog_e2e_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(infra.admin_dsn, name, template=template_database)
    log_dir = tmp_path_factory.mktemp("preflog-up")
    try:
        async with preflog_up(dsn, infra.nats_url, log_dir) as running:
            yield running
            print("\n--- preflog up log (tail) ---\n" + running.log_tail())
    finally:
        await drop_database(infra.admin_dsn, name)
