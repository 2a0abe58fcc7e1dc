"""A dependency stopped for a few seconds under a working ``preflog up``: four annotators
keep sending mutations through it, counting the refusals. Shared by the NATS and Postgres
outage tests."""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from preflog_testing.system import Up

from .running_system import GraphQLError, System
from .test_crash_recovery import ACTION_TYPES, CLAIM, Annotator, set_up
from .test_whole_system import audit_events, eventually

OUTAGE_SECONDS = 3.0
RETRYABLE = {"UNAVAILABLE", "CONFLICT"}


@dataclass
class Refusing(Annotator):
    """An annotator that keeps going through refusals, counting their codes."""

    refused: Counter[str] = field(default_factory=Counter)

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


@dataclass
class Outage:
    system: System
    project_id: str
    annotators: list[Refusing]
    refused: Counter[str]
    """codes of the answers that were errors, during and around the outage"""


async def work_through_an_outage(
    up: Up, http: httpx.AsyncClient, halt: Callable[[], Any], resume: Callable[[], Any], what: str
) -> Outage:
    """Annotators at work; ``halt()`` after their first 40 mutations, ``resume()``
    ``OUTAGE_SECONDS`` later (both run in a thread); once 40 more have landed, they stop."""
    system = System.of(up, http)
    project_id, plain = await set_up(system)
    refused: Counter[str] = Counter()
    annotators = [Refusing(a.client, a.rnd, refused=refused) for a in plain]
    stop = asyncio.Event()
    workers = [asyncio.create_task(a.keep_working(project_id, stop)) for a in annotators]

    async def acked(at_least: int) -> bool | None:
        return True if sum(a.acked_count() for a in annotators) >= at_least else None

    await eventually(lambda: acked(40), "the first mutations", 60)
    await asyncio.to_thread(halt)
    await asyncio.sleep(OUTAGE_SECONDS)
    await asyncio.to_thread(resume)
    before = sum(a.acked_count() for a in annotators)
    await eventually(lambda: acked(before + 40), f"mutations after {what} came back", 60)
    stop.set()
    await asyncio.wait_for(asyncio.gather(*workers), 60)
    return Outage(system, project_id, annotators, refused)


async def acknowledged_actions_are_in_the_log(outage: Outage) -> None:
    """Every rank, crown and answer an annotator was told landed is in the audit log (a
    refused one may have landed too)."""
    events = await audit_events(
        outage.system.admin, {"projectId": outage.project_id, "types": sorted(ACTION_TYPES)}
    )
    in_log = Counter(e["labelId"] for e in events)
    for a in outage.annotators:
        for label_id, acked in a.actions.items():
            assert in_log[label_id] >= acked, label_id
