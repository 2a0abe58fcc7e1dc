"""NATS stops for a few seconds under a running ``preflog up`` and comes back.

``preflog up`` runs against a NATS server of this test's own (the machine's is shared), on
a port and JetStream store that survive the restart. While NATS is down, four annotators keep
sending mutations over HTTP: each is answered, with data or with a retryable ``UNAVAILABLE``,
never ``INTERNAL`` and never a bare HTTP error. Once NATS is back, without restarting
anything, work goes on, the relay publishes what was written meanwhile, and review takes in
every submission, once.
"""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass

import httpx
import pytest
import pytest_asyncio

from preflog_eventstore import create_database, drop_database
from preflog_messaging.embedded import EmbeddedNats
from preflog_testing.infra import Infra
from preflog_testing.system import start

from .running_system import GraphQLError, System
from .test_crash_recovery import CLAIM, Annotator, review_took_in_once, set_up
from .test_whole_system import audit_events, eventually

pytestmark = pytest.mark.timeout(240)

OUTAGE_SECONDS = 3.0
RETRYABLE = {"UNAVAILABLE", "CONFLICT"}


@dataclass
class Outage:
    system: System
    project_id: str
    annotators: list[Annotator]
    refused: Counter[str]
    """codes of the answers that were errors, during and around the outage"""


class Refusing(Annotator):
    """An annotator that keeps going through refusals, counting their codes."""

    refused: Counter[str]

    async def keep_working(self, project_id: str, stop: asyncio.Event) -> None:
        while not stop.is_set():
            try:
                task = (await self.client.gql(CLAIM, {"p": project_id}))["claimNextTask"]
                if task is None:
                    return
                await self.label_task(task)
            except GraphQLError as exc:
                self.refused[exc.code] += 1
                await asyncio.sleep(0.1)


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
        await asyncio.to_thread(nats.stop)
        await asyncio.sleep(OUTAGE_SECONDS)
        await asyncio.to_thread(nats.start)
        before = sum(a.acked_count() for a in annotators)
        await eventually(
            lambda: _true_when(sum(a.acked_count() for a in annotators) >= before + 40),
            "mutations after NATS came back",
            60,
        )
        stop.set()
        await asyncio.wait_for(asyncio.gather(*workers), 60)
        yield Outage(system, project_id, annotators, refused)
        print("\n--- preflog up log (tail) ---\n" + system.log_tail())
    finally:
        await http.aclose()
        await up.stop()
        await drop_database(infra.admin_dsn, name)
        nats.stop()


async def _true_when(condition: bool) -> bool | None:
    return True if condition else None


async def test_requests_during_the_outage_were_answered_as_retryable(outage: Outage) -> None:
    assert set(outage.refused) <= RETRYABLE, outage.refused


async def test_every_acknowledged_mutation_is_in_the_log(outage: Outage) -> None:
    admin = outage.system.admin
    events = await audit_events(
        admin,
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
