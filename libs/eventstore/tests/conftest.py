from __future__ import annotations

import uuid

import asyncpg
import pytest
import pytest_asyncio

from preflog_contracts.envelope import Metadata
from preflog_contracts.events.catalog import DatasetCreated
from preflog_eventstore import EventStore, create_pool


def dataset_event(name: str = "d") -> DatasetCreated:
    return DatasetCreated(dataset_id=str(uuid.uuid4()), name=name)


@pytest.fixture
def org_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def meta() -> Metadata:
    return Metadata(actor_id="u-1", actor_role="ADMIN", correlation_id="c-1")


@pytest_asyncio.fixture(loop_scope="session")
async def fresh_store(fresh_database_url: str):  # type: ignore[no-untyped-def]
    pool: asyncpg.Pool = await create_pool(fresh_database_url, min_size=2, max_size=40)
    yield EventStore(pool)
    await pool.close()
