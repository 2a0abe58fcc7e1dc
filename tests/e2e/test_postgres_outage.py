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
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import asyncpg
import httpx
import pytest
import pytest_asyncio

from preflog_eventstore import create_database
from preflog_eventstore.embedded import EmbeddedPostgres
from preflog_testing.infra import Infra
from preflog_testing.system import start

from .running_system import System
from .test_crash_recovery import review_took_in_once, set_up
from .test_nats_outage import RETRYABLE, Refusing, _true_when
from .test_whole_system import audit_events, eventually

pytestmark = pytest.mark.timeout(240)

OUTAGE_SECONDS = 3.0


@dataclass
class Outage:
    system: System
    project_id: str
    annotators: list[Refusing]
    refused: Counter[str]
    dsn: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def outage(infra: Infra, tmp_path_factory: pytest.TempPathFactory) -> AsyncIterator[Outage]:
    pg = EmbeddedPostgres(tmp_path_factory.mktemp("pg"))
    admin_dsn = await asyncio.to_thread(pg.start)
    try:
        dsn = await create_database(admin_dsn, f"preflog_{uuid.uuid4().hex[:8]}")
        up = await start(dsn, infra.nats_url, tmp_path_factory.mktemp("pgout"), prefix="pgout")
        http = httpx.AsyncClient(base_url=up.url, timeout=60)
        try:
            system = System(up.url, f"ws://127.0.0.1:{up.port}/graphql", up.token, up, http)
            project_id, plain = await set_up(system)
            refused: Counter[str] = Counter()
            annotators = []
            for a in plain:
                worker = Refusing(a.client, a.rnd)
                worker.refused = refused
                annotators.append(worker)
            stop = asyncio.Event()
            workers = [asyncio.create_task(a.keep_working(project_id, stop)) for a in annotators]
            await eventually(
                lambda: _true_when(sum(a.acked_count() for a in annotators) >= 40),
                "the first mutations",
                60,
            )
            await asyncio.to_thread(pg.stop)
            await asyncio.sleep(OUTAGE_SECONDS)
            await asyncio.to_thread(pg.start)
            before = sum(a.acked_count() for a in annotators)
            await eventually(
                lambda: _true_when(sum(a.acked_count() for a in annotators) >= before + 40),
                "mutations after Postgres came back",
                60,
            )
            stop.set()
            await asyncio.wait_for(asyncio.gather(*workers), 60)
            yield Outage(system, project_id, annotators, refused, dsn)
            print("\n--- preflog up log (tail) ---\n" + system.log_tail())
        finally:
            await http.aclose()
            await up.stop()
    finally:
        await asyncio.to_thread(pg.stop)


async def test_requests_during_the_outage_were_answered_as_retryable(outage: Outage) -> None:
    assert outage.refused, "no request met the outage"
    assert set(outage.refused) <= RETRYABLE, outage.refused


async def test_every_acknowledged_mutation_is_in_the_log(outage: Outage) -> None:
    events = await audit_events(
        outage.system.admin,
        {
            "projectId": outage.project_id,
            "types": ["ResponsesRanked", "ResponseCrowned", "QuestionAnswered"],
        },
    )
    in_log = Counter(e["labelId"] for e in events)
    for a in outage.annotators:
        for label_id, acked in a.actions.items():
            assert in_log[label_id] >= acked, label_id


async def test_review_took_in_every_submission_once(outage: Outage) -> None:
    await review_took_in_once(outage.system.admin, outage.project_id, outage.annotators, 60)


async def test_the_label_read_model_caught_up_and_no_loop_died(outage: Outage) -> None:
    conn = await asyncpg.connect(outage.dsn)
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
    assert "exception was never retrieved" not in outage.system.up.log()
