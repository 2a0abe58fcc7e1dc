"""Postgres stops for a few seconds under a running ``preflog up`` and comes back.

``preflog up`` runs on a Postgres of this test's own (the machine's is shared), whose data
and socket survive the restart. While it is down, four annotators keep sending mutations
over HTTP: each is answered with data or a retryable ``UNAVAILABLE`` in the API's error
shape. Once it is back, with nothing restarted, work goes on, every acknowledged mutation is
in the log, review takes every submission in once, the label read model catches up, and no
background loop of the process has died.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator

import asyncpg
import httpx
import pytest
import pytest_asyncio

from preflog_eventstore import create_database
from preflog_eventstore.embedded import EmbeddedPostgres
from preflog_testing.infra import Infra
from preflog_testing.system import start

from .outages import RETRYABLE, Outage, acknowledged_actions_are_in_the_log, work_through_an_outage
from .test_crash_recovery import review_took_in_once
from .test_whole_system import eventually

pytestmark = pytest.mark.timeout(240)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outage(
    infra: Infra, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[tuple[Outage, str]]:
    """The outage, and the DSN of the database under it."""
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    admin_dsn = await asyncio.to_thread(pg.start)
    try:
        dsn = await create_database(admin_dsn, f"preflog_{uuid.uuid4().hex[:8]}")
        up = await start(dsn, infra.nats_url, tmp_path_factory.mktemp("pgout"), prefix="pgout")
        http = httpx.AsyncClient(base_url=up.url, timeout=60)
        try:
            outage = await work_through_an_outage(up, http, pg.stop, pg.start, "Postgres")
            yield outage, dsn
            print("\n--- preflog up log (tail) ---\n" + outage.system.log_tail())
        finally:
            await http.aclose()
            await up.stop()
    finally:
        await asyncio.to_thread(pg.stop)


async def test_requests_during_the_outage_were_answered_as_retryable(
    outage: tuple[Outage, str],
) -> None:
    refused = outage[0].refused
    assert refused, "no request met the outage"
    assert set(refused) <= RETRYABLE, refused


async def test_every_acknowledged_mutation_is_in_the_log(outage: tuple[Outage, str]) -> None:
    await acknowledged_actions_are_in_the_log(outage[0])


async def test_review_took_in_every_submission_once(outage: tuple[Outage, str]) -> None:
    done = outage[0]
    await review_took_in_once(done.system.admin, done.project_id, done.annotators, 60)


async def test_the_label_read_model_caught_up_and_no_loop_died(
    outage: tuple[Outage, str],
) -> None:
    done, dsn = outage
    conn = await asyncpg.connect(dsn)
    try:

        async def behind() -> bool | None:
            late = await conn.fetchval(
                "select count(*) from labeling.labels l where l.version <"
                " (select max(stream_position) from eventlog.events"
                "  where stream_name = 'label-' || l.label_id)"
            )
            return True if late == 0 else None

        await eventually(behind, "the label read model to catch up", 30)
    finally:
        await conn.close()
    assert "exception was never retrieved" not in done.system.up.log()
