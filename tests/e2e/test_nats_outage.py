"""NATS stops for a few seconds under a running ``preflog up`` and comes back.

``preflog up`` runs against a NATS server of this test's own (the machine's is shared), on
a port and JetStream store that survive the restart. While NATS is down, four annotators keep
sending mutations over HTTP: each is answered, with data or with a retryable ``UNAVAILABLE``,
never ``INTERNAL`` and never a bare HTTP error. Once NATS is back, without restarting
anything, work goes on, the relay publishes what was written meanwhile, and review takes in
every submission, once.
"""

from __future__ import annotations

import uuid
from collections.abc import AsyncIterator

import httpx
import pytest
import pytest_asyncio

from preflog_eventstore import create_database, drop_database
from preflog_messaging.embedded import EmbeddedNats
from preflog_testing.infra import Infra
from preflog_testing.system import start

from .outages import RETRYABLE, Outage, acknowledged_actions_are_in_the_log, work_through_an_outage
from .test_crash_recovery import review_took_in_once

pytestmark = pytest.mark.timeout(240)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outage(
    infra: Infra, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Outage]:
    nats = EmbeddedNats(tmp_path_factory.mktemp("nats"))
    nats.start()
    name = f"preflog_nats_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(infra.admin_dsn, name, template=template_database)
    up = await start(dsn, nats.url, tmp_path_factory.mktemp("outage"), prefix="outage")
    http = httpx.AsyncClient(base_url=up.url, timeout=60)
    try:
        outage = await work_through_an_outage(up, http, nats.stop, nats.start, "NATS")
        yield outage
        print("\n--- preflog up log (tail) ---\n" + outage.system.log_tail())
    finally:
        await http.aclose()
        await up.stop()
        await drop_database(infra.admin_dsn, name)
        nats.stop()


async def test_requests_during_the_outage_were_answered_as_retryable(outage: Outage) -> None:
    assert set(outage.refused) <= RETRYABLE, outage.refused


async def test_every_acknowledged_mutation_is_in_the_log(outage: Outage) -> None:
    await acknowledged_actions_are_in_the_log(outage)


async def test_review_took_in_every_submission_once(outage: Outage) -> None:
    await review_took_in_once(outage.system.admin, outage.project_id, outage.annotators, 60)
