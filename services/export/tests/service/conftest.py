"""The export service on real Postgres and NATS, fed by upstream events through the relay.

Tests append other services' events with the EventStore; the relay publishes them to
JetStream and the export service's consumer applies them, exactly as in production.
"""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest
import pytest_asyncio
from jsonschema import Draft202012Validator
from nats.aio.client import Client
from nats.js import JetStreamContext

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.events.accounts import UserCreated
from preflog_contracts.events.base import Event
from preflog_contracts.events.catalog import DataRowImported
from preflog_contracts.events.labels import (
    Crown,
    EditedResponse,
    LabelSnapshot,
    LabelSubmitted,
    RankEntry,
    Ranking,
    TaskCreated,
    TaskLeased,
)
from preflog_contracts.events.projects import (
    BatchCreated,
    MemberAdded,
    OntologyUpdated,
    Option,
    ProjectCreated,
    Question,
)
from preflog_contracts.events.review import LabelApproved, TaskStatusChanged
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.export import ExportRequest
from preflog_eventstore import EventStore, StreamWrite
from preflog_eventstore.relay import Relay
from preflog_export.bootstrap import build
from preflog_messaging.rpc import CallContext, RpcClient
from preflog_messaging.runtime import Runtime, ServiceParts, start_parts, stop_parts
from preflog_messaging.streams import stream_call
from preflog_settings import Settings

PROTO = Path(__file__).resolve().parents[4] / "proto" / "export"


def text(value: str) -> list[Part]:
    return [Part(kind="text", value=value)]


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def runtime(
    settings: Settings, pool: asyncpg.Pool, store: EventStore, nc: Client, js: JetStreamContext
) -> Runtime:
    rpc = RpcClient(nc, namespace=settings.namespace, secret=settings.internal_secret)
    return Runtime(settings, pool, store, nc, js, rpc)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def relay(runtime: Runtime) -> AsyncIterator[Relay]:
    """The relay publishing the test database's log to this run's namespace."""
    r = Relay(runtime.store, runtime.nc, namespace=runtime.settings.namespace)
    stop = asyncio.Event()
    task = asyncio.create_task(r.run(stop))
    yield r
    stop.set()
    await asyncio.wait_for(task, 10)


@dataclass
class Service:
    runtime: Runtime
    parts: ServiceParts
    tasks: list[asyncio.Task[None]]
    stop: asyncio.Event

    async def close(self) -> None:
        await stop_parts([self.parts], self.tasks, self.stop)


async def start_service(runtime: Runtime, **options: Any) -> Service:
    parts = await build(runtime, **options)
    stop = asyncio.Event()
    tasks = await start_parts([parts], stop)
    return Service(runtime, parts, tasks, stop)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def service(runtime: Runtime, relay: Relay) -> AsyncIterator[Service]:
    started = await start_service(runtime, chunk_bytes=4096)
    yield started
    await started.close()


def ctx_for(user_id: str, org_id: str, role: str = "MEMBER") -> CallContext:
    return CallContext(identity=Identity(user_id=user_id, org_id=org_id, org_role=role))


@dataclass
class Project:
    """One org's project seeded through upstream events (see :func:`seed_project`)."""

    store: EventStore
    pool: asyncpg.Pool
    org_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    project_id: str = field(default_factory=lambda: f"proj-{uuid.uuid4().hex[:10]}")
    manager: str = field(default_factory=lambda: f"mgr-{uuid.uuid4().hex[:6]}")
    annotator: str = field(default_factory=lambda: f"ann-{uuid.uuid4().hex[:6]}")
    reviewer: str = field(default_factory=lambda: f"rev-{uuid.uuid4().hex[:6]}")
    batch_id: str = field(default_factory=lambda: f"batch-{uuid.uuid4().hex[:6]}")
    tasks: list[str] = field(default_factory=list)
    labels: dict[str, str] = field(default_factory=dict)  # task -> label
    clock: datetime = field(default_factory=lambda: datetime.now(UTC))

    @property
    def manager_ctx(self) -> CallContext:
        return ctx_for(self.manager, self.org_id)

    async def append(
        self, aggregate_id: str, events: list[Event], actor: str, **scope: str
    ) -> None:
        category = type(events[0]).category
        await self.store.append(
            StreamWrite(stream_name(category, aggregate_id), events),
            org_id=self.org_id,
            metadata=Metadata(
                actor_id=actor, actor_role="MEMBER", project_id=self.project_id, **scope
            ),
        )

    async def approve(self, index: int) -> None:
        task_id = self.tasks[index]
        label_id = self.labels[task_id]
        await self.append(
            task_id,
            [
                LabelApproved(label_id=label_id, task_id=task_id, project_id=self.project_id),
                TaskStatusChanged(
                    task_id=task_id,
                    project_id=self.project_id,
                    from_status="IN_REVIEW",
                    to_status="DONE",
                    label_id=label_id,
                ),
            ],
            self.reviewer,
            task_id=task_id,
            label_id=label_id,
        )

    async def last_seq(self) -> int:
        value = await self.pool.fetchval(
            "select last_seq from export.projects where project_id = $1", self.project_id
        )
        return int(value or 0)

    async def approved_tasks(self) -> int:
        return int(
            await self.pool.fetchval(
                "select count(*) from export.items where project_id = $1"
                " and 'APPROVED' = any(label_statuses)",
                self.project_id,
            )
        )


def snapshot_for(index: int) -> LabelSnapshot:
    """Even tasks: crown A, with B edited. Odd tasks: ranking C > A > B."""
    if index % 2 == 0:
        return LabelSnapshot(
            crowns=[Crown(prompt_id="p1", response_id="A")],
            responses=[EditedResponse(response_id="B", content=text(f"edited b {index}"))],
        )
    return LabelSnapshot(
        rankings=[
            Ranking(
                prompt_id="p1", ranking=[RankEntry("C", 1), RankEntry("A", 2), RankEntry("B", 3)]
            )
        ]
    )


async def seed_project(store: EventStore, pool: asyncpg.Pool, tasks: int, approved: int) -> Project:
    """A project of ``tasks`` tasks, each with one submitted label; the first ``approved``
    are approved. Returns when the export read model has caught up."""
    p = Project(store, pool)
    await p.append(
        p.manager,
        [
            UserCreated(
                user_id=p.manager, email=f"{p.manager}@example.com", name="M", org_role="MEMBER"
            )
        ],
        "admin",
    )
    for user in (p.annotator, p.reviewer):
        await p.append(
            user,
            [UserCreated(user_id=user, email=f"{user}@example.com", name=user, org_role="MEMBER")],
            "admin",
        )
    question = Question(
        id="q1", title="Helpful?", kind="RADIO", options=[Option(value="yes"), Option(value="no")]
    )
    await p.append(
        p.project_id,
        [
            ProjectCreated(project_id=p.project_id, name="Export test"),
            MemberAdded(project_id=p.project_id, user_id=p.manager, role="MANAGER"),
            MemberAdded(project_id=p.project_id, user_id=p.annotator, role="ANNOTATOR"),
            MemberAdded(project_id=p.project_id, user_id=p.reviewer, role="REVIEWER"),
            OntologyUpdated(project_id=p.project_id, version=1, questions=[question]),
        ],
        p.manager,
    )
    row_ids = []
    for i in range(tasks):
        row_id = f"row-{uuid.uuid4().hex[:10]}"
        row_ids.append(row_id)
        row = DataRow(
            messages=[Message(id="m1", role="user", content=text(f"question {i}?"))],
            prompts=[
                PromptPoint(
                    id="p1",
                    after_message_id="m1",
                    responses=[
                        Response(
                            id=r,
                            title=r,
                            content=text(f"answer {r.lower()} {i}"),
                            model_config_name=m,
                        )
                        for r, m in (("A", "alpha"), ("B", "beta"), ("C", "gamma"))
                    ],
                )
            ],
        )
        await p.append(
            row_id,
            [
                DataRowImported(
                    data_row_id=row_id,
                    dataset_id="ds",
                    global_key=f"gk-{row_id}",
                    row=row,
                    source_format="native",
                )
            ],
            "admin",
        )
    await p.append(
        p.project_id,
        [BatchCreated(project_id=p.project_id, batch_id=p.batch_id, data_row_ids=row_ids)],
        p.manager,
    )
    for i, row_id in enumerate(row_ids):
        task_id = f"task-{uuid.uuid4().hex[:10]}"
        label_id = f"label-{uuid.uuid4().hex[:10]}"
        p.tasks.append(task_id)
        p.labels[task_id] = label_id
        await p.append(
            task_id,
            [
                TaskCreated(
                    task_id=task_id,
                    project_id=p.project_id,
                    data_row_id=row_id,
                    batch_id=p.batch_id,
                ),
                TaskLeased(
                    task_id=task_id,
                    project_id=p.project_id,
                    user_id=p.annotator,
                    label_id=label_id,
                    expires_at=p.clock + timedelta(hours=1),
                ),
            ],
            p.annotator,
            task_id=task_id,
        )
        await p.append(
            label_id,
            [
                LabelSubmitted(
                    label_id=label_id,
                    task_id=task_id,
                    project_id=p.project_id,
                    data_row_id=row_id,
                    author_id=p.annotator,
                    snapshot=snapshot_for(i),
                )
            ],
            p.annotator,
            task_id=task_id,
            label_id=label_id,
        )
    for i in range(approved):
        await p.approve(i)
    await eventually(lambda: _count_is(p, approved, tasks))
    return p


async def _count_is(p: Project, approved: int, tasks: int) -> bool:
    total = await p.pool.fetchval(
        "select count(*) from export.items where project_id = $1 and label_statuses <> '{}'",
        p.project_id,
    )
    return total == tasks and await p.approved_tasks() == approved


async def eventually(check: Callable[[], Awaitable[bool]], timeout: float = 30.0) -> None:
    deadline = asyncio.get_running_loop().time() + timeout
    while not await check():
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError("the export read model did not catch up in time")
        await asyncio.sleep(0.05)


def parse_lines(data: bytes) -> list[dict[str, Any]]:
    return [json.loads(line) for line in data.splitlines() if line.strip()]


async def export_lines(runtime: Runtime, ctx: CallContext, **request: Any) -> list[dict[str, Any]]:
    body = ExportRequest(**request)
    chunks = [c async for c in stream_call(runtime.rpc, "export", "export", body, ctx=ctx)]
    return parse_lines(b"".join(chunks))


@pytest.fixture(scope="session")
def validators() -> dict[str, Draft202012Validator]:
    out = {}
    for path in PROTO.glob("*.schema.json"):
        schema = json.loads(path.read_text())
        out[path.name.removesuffix(".schema.json")] = Draft202012Validator(
            schema, format_checker=Draft202012Validator.FORMAT_CHECKER
        )
    return out
