"""The review service on real Postgres and NATS, fed the way production feeds it.

Labeling's and ingest's events are appended with the EventStore and published by the real
relay; the service learns them through its JetStream intake, and is called over NATS RPC
exactly as the gateway calls it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

import asyncpg
import pytest_asyncio
from nats.aio.client import Client
from nats.js import JetStreamContext

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.events.base import Event
from preflog_contracts.events.catalog import DataRowImported
from preflog_contracts.events.labels import (
    Answer,
    Crown,
    LabelSnapshot,
    LabelStarted,
    LabelSubmitted,
    RankEntry,
    Ranking,
    TaskCreated,
    TaskLeased,
    TaskRequeued,
    TaskSkipped,
)
from preflog_contracts.events.projects import (
    MemberAdded,
    OntologyUpdated,
    Option,
    ProjectCreated,
    ProjectSettings,
    Question,
)
from preflog_contracts.identity import Identity
from preflog_eventstore import ANY, EventStore, StreamWrite
from preflog_eventstore.relay import Relay
from preflog_messaging.rpc import CallContext, RpcClient
from preflog_messaging.runtime import Runtime, ServiceParts, start_parts, stop_parts
from preflog_review.bootstrap import build
from preflog_settings import Settings

T = TypeVar("T")
MODELS = ("model-a", "model-b", "model-c")
QUESTIONS = [
    Question(
        id="q-helpful",
        title="Most helpful?",
        kind="RADIO",
        options=[Option(value="a"), Option(value="b")],
    ),
    Question(id="q-score", title="Score", kind="SCALE", min=1, max=5),
]


async def eventually(check: Callable[[], Awaitable[T]], timeout: float = 20.0) -> T:
    """Retry ``check`` until it returns a truthy value without raising (the read model lags)."""
    deadline = asyncio.get_running_loop().time() + timeout
    last: BaseException | None = None
    while asyncio.get_running_loop().time() < deadline:
        try:
            value = await check()
            if value:
                return value
        except AssertionError as exc:
            last = exc
        except Exception as exc:
            last = exc
        await asyncio.sleep(0.05)
    raise AssertionError(f"condition not reached: {last!r}")


@dataclass
class Service:
    rt: Runtime
    store: EventStore
    pool: asyncpg.Pool

    async def call(
        self, who: Identity, op: str, body: Any, response_type: type[T], key: str | None = None
    ) -> T:
        ctx = CallContext(identity=who, idempotency_key=key, correlation_id=str(uuid.uuid4()))
        return await self.rt.rpc.call("review", op, body, ctx=ctx, response_type=response_type)

    async def workflow_events(self, task_id: str) -> list[str]:
        return [r.event_type for r in await self.store.read_stream(f"workflow-{task_id}")]


def snapshot(
    crown: str | None = None,
    ranking: list[str] | None = None,
    helpful: str | None = None,
    score: int | None = None,
) -> LabelSnapshot:
    """A label on the standard row: crown and/or ranking of response ids, answers."""
    answers = []
    if helpful is not None:
        answers.append(Answer(question_id="q-helpful", value=helpful))
    if score is not None:
        answers.append(Answer(question_id="q-score", value=score))
    return LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id=crown)] if crown else [],
        rankings=[
            Ranking(
                prompt_id="p1",
                ranking=[RankEntry(rid, i + 1) for i, rid in enumerate(ranking)],
            )
        ]
        if ranking
        else [],
        answers=answers,
    )


@dataclass
class Org:
    """One organization's world: users by role, a project, and helpers emitting labeling events."""

    svc: Service
    org_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    project_id: str = field(default_factory=lambda: f"p{uuid.uuid4().hex[:12]}")
    users: dict[str, Identity] = field(default_factory=dict)

    def user(self, name: str, admin: bool = False) -> Identity:
        if name not in self.users:
            self.users[name] = Identity(
                user_id=f"{name}-{uuid.uuid4().hex[:8]}",
                org_id=self.org_id,
                org_role="ADMIN" if admin else "MEMBER",
            )
        return self.users[name]

    async def emit(self, event: Event, stream_id: str, at: datetime | None = None) -> None:
        meta = Metadata(
            actor_id="labeling",
            actor_role="SYSTEM",
            project_id=self.project_id,
            task_id=getattr(event, "task_id", None),
            label_id=getattr(event, "label_id", None),
        )
        await self.svc.store.append(
            StreamWrite(stream_name(event.category, stream_id), [event], ANY),
            org_id=self.org_id,
            metadata=meta,
        )

    async def create_project(
        self,
        *,
        review_required: bool = True,
        quality_mode: str = "BENCHMARK",
        count: int = 1,
        coverage: float = 1.0,
        roles: dict[str, str] | None = None,
    ) -> None:
        await self.emit(
            ProjectCreated(
                project_id=self.project_id,
                name="p",
                quality_mode=quality_mode,
                consensus_label_count=count,
                consensus_coverage=coverage,
                settings=ProjectSettings(review_required=review_required),
            ),
            self.project_id,
        )
        await self.emit(
            OntologyUpdated(project_id=self.project_id, version=1, questions=QUESTIONS),
            self.project_id,
        )
        self.user("admin", admin=True)
        for name, role in (
            roles
            or {
                "owner": "OWNER",
                "manager": "MANAGER",
                "reviewer": "REVIEWER",
                "annotator": "ANNOTATOR",
                "annotator2": "ANNOTATOR",
                "annotator3": "ANNOTATOR",
            }
        ).items():
            await self.emit(
                MemberAdded(project_id=self.project_id, user_id=self.user(name).user_id, role=role),
                self.project_id,
            )

    async def create_task(self, priority: int = 0) -> tuple[str, str]:
        row_id = f"r{uuid.uuid4().hex[:12]}"
        task_id = f"t{uuid.uuid4().hex[:12]}"
        row = DataRow(
            messages=[Message(id="m1", role="user", content=[Part(kind="text", value="hi")])],
            prompts=[
                PromptPoint(
                    id="p1",
                    after_message_id="m1",
                    responses=[
                        Response(
                            id=f"r-{m}",
                            title=m,
                            content=[Part(kind="text", value=m)],
                            model_config_name=m,
                        )
                        for m in MODELS
                    ],
                )
            ],
        )
        await self.emit(
            DataRowImported(
                data_row_id=row_id,
                dataset_id="d",
                global_key=row_id,
                row=row,
                source_format="native",
            ),
            row_id,
        )
        await self.emit(
            TaskCreated(
                task_id=task_id,
                project_id=self.project_id,
                data_row_id=row_id,
                batch_id="b",
                priority=priority,
            ),
            task_id,
        )
        return task_id, row_id

    async def submit(
        self,
        task_id: str,
        row_id: str,
        author: str,
        snap: LabelSnapshot,
        label_id: str | None = None,
        seconds: float = 60.0,
    ) -> str:
        label_id = label_id or f"l{uuid.uuid4().hex[:12]}"
        user = self.user(author).user_id
        leased_at = datetime.now(UTC) - timedelta(seconds=seconds)
        await self.emit(
            TaskLeased(
                task_id=task_id,
                project_id=self.project_id,
                user_id=user,
                label_id=label_id,
                expires_at=leased_at + timedelta(hours=1),
            ),
            task_id,
        )
        await self.emit(
            LabelStarted(
                label_id=label_id,
                task_id=task_id,
                project_id=self.project_id,
                data_row_id=row_id,
                author_id=user,
            ),
            label_id,
        )
        await self.emit(
            LabelSubmitted(
                label_id=label_id,
                task_id=task_id,
                project_id=self.project_id,
                data_row_id=row_id,
                author_id=user,
                snapshot=snap,
                leased_at=leased_at,
            ),
            label_id,
        )
        return label_id

    async def skip(self, task_id: str) -> None:
        await self.emit(
            TaskSkipped(task_id=task_id, project_id=self.project_id, user_id="u", reason="unclear"),
            task_id,
        )

    async def requeue(self, task_id: str) -> None:
        await self.emit(TaskRequeued(task_id=task_id, project_id=self.project_id), task_id)

    async def task_status(self, task_id: str) -> str:
        status: str | None = await self.svc.pool.fetchval(
            "select status from review.tasks where task_id = $1", task_id
        )
        return status or ""

    async def wait_status(self, task_id: str, status: str) -> None:
        async def reached() -> bool:
            return await self.task_status(task_id) == status

        await eventually(reached)

    async def wait_label(self, label_id: str, status: str = "SUBMITTED") -> None:
        async def reached() -> bool:
            found = await self.svc.pool.fetchval(
                "select status from review.labels where label_id = $1", label_id
            )
            return bool(found == status)

        await eventually(reached)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def service(
    settings: Settings,
    pool: asyncpg.Pool,
    store: EventStore,
    nc: Client,
    js: JetStreamContext,
) -> AsyncIterator[Service]:
    rpc = RpcClient(nc, namespace=settings.namespace, secret=settings.internal_secret, timeout=30)
    rt = Runtime(settings, pool, store, nc, js, rpc)
    parts: list[ServiceParts] = [await build(rt)]
    stop = asyncio.Event()
    tasks = await start_parts(parts, stop)
    relay = Relay(store, nc, namespace=settings.namespace)
    tasks.append(asyncio.create_task(relay.run(stop)))
    yield Service(rt, store, pool)
    await stop_parts(parts, tasks, stop)


@pytest_asyncio.fixture(loop_scope="session")
async def org(service: Service) -> Org:
    world = Org(service)
    await world.create_project()
    return world
