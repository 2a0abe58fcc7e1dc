"""The labeling service on real Postgres and NATS, called over RPC as the gateway will."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

import msgspec
import pytest_asyncio

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.events.catalog import DataRowImported, DatasetCreated, PreLabel, PreLabelsImported
from preflog_contracts.identity import Identity
from preflog_contracts.rpc import labeling as api
from preflog_eventstore import StreamWrite
from preflog_eventstore.relay import Relay
from preflog_labeling.bootstrap import build
from preflog_messaging import CallContext, delete_namespace_streams
from preflog_messaging.runtime import Runtime, ServiceParts, open_runtime, start_parts, stop_parts
from preflog_settings import Settings

T = TypeVar("T")
INGEST = Metadata(actor_id="ingest-test", actor_role="ADMIN")


def sample_row(n_responses: int = 3, n_prompts: int = 1) -> DataRow:
    messages = [Message(id="m1", role="user", content=[Part(kind="text", value="Which is best?")])]
    prompts = [
        PromptPoint(
            id=f"p{j}",
            after_message_id="m1",
            responses=[
                Response(
                    id=f"p{j}r{i}",
                    title=f"Response {i}",
                    content=[Part(kind="text", value=f"answer {i}")],
                    model_config_name=f"model-{i}",
                )
                for i in range(n_responses)
            ],
        )
        for j in range(n_prompts)
    ]
    return DataRow(messages=messages, prompts=prompts)


@dataclass
class Org:
    org_id: str
    admin: Identity

    def user(self, name: str = "", role: str = "MEMBER") -> Identity:
        return Identity(user_id=name or f"u-{uuid.uuid4().hex[:8]}", org_id=self.org_id, org_role=role)


@dataclass
class Harness:
    rt: Runtime
    parts: ServiceParts

    async def call(
        self,
        who: Identity,
        op: str,
        body: Any,
        response_type: type[T] = Any,  # type: ignore[assignment]
        key: str | None = None,
    ) -> T:
        ctx = CallContext(identity=who, idempotency_key=key, user_agent="pytest")
        return await self.rt.rpc.call("labeling", op, body, ctx=ctx, response_type=response_type)

    def org(self) -> Org:
        org_id = str(uuid.uuid4())
        return Org(org_id, Identity(user_id=f"admin-{org_id[:8]}", org_id=org_id, org_role="ADMIN"))

    async def import_rows(self, org: Org, n: int = 3, row: DataRow | None = None) -> tuple[str, list[str]]:
        """Append ingest's events for a dataset of ``n`` rows and wait until labeling knows them."""
        dataset_id = str(uuid.uuid4())
        ids = [str(uuid.uuid4()) for _ in range(n)]
        writes = [StreamWrite(stream_name("dataset", dataset_id), [DatasetCreated(dataset_id=dataset_id, name="d")])]
        writes += [
            StreamWrite(
                stream_name("datarow", i),
                [
                    DataRowImported(
                        data_row_id=i,
                        dataset_id=dataset_id,
                        global_key=f"gk-{i}",
                        row=row or sample_row(),
                        source_format="native",
                    )
                ],
            )
            for i in ids
        ]
        await self.rt.store.append(writes, org_id=org.org_id, metadata=INGEST)
        await eventually(lambda: self._count_rows(ids), len(ids))
        return dataset_id, ids

    async def _count_rows(self, ids: list[str]) -> int:
        return int(
            await self.rt.pool.fetchval(
                "select count(*) from labeling.data_rows where data_row_id = any($1::text[])", ids
            )
        )

    async def import_prelabels(self, org: Org, project_id: str, data_row_id: str, prelabels: list[PreLabel]) -> None:
        await self.rt.store.append(
            StreamWrite(
                stream_name("prelabels", str(uuid.uuid4())),
                [PreLabelsImported(project_id=project_id, data_row_id=data_row_id, prelabels=prelabels)],
            ),
            org_id=org.org_id,
            metadata=INGEST,
        )

        async def seen() -> int:
            return int(
                await self.rt.pool.fetchval(
                    "select count(*) from labeling.prelabels where project_id = $1 and data_row_id = $2",
                    project_id,
                    data_row_id,
                )
            )

        await eventually(seen, 1)

    async def project(
        self,
        org: Org,
        *,
        members: dict[str, str] | None = None,
        rows: int = 3,
        row: DataRow | None = None,
        **create: Any,
    ) -> tuple[api.ProjectView, list[str]]:
        """A project with ``rows`` rows in one batch and the given members (user id -> role)."""
        create.setdefault("name", "p")
        project = await self.call(org.admin, "create_project", api.CreateProjectRequest(**create), api.ProjectView)
        for user_id, role in (members or {}).items():
            await self.call(
                org.admin,
                "add_project_member",
                api.AddProjectMemberRequest(project_id=project.id, user_id=user_id, role=role),
            )
        dataset_id, ids = await self.import_rows(org, rows, row)
        if rows:
            await self.call(
                org.admin,
                "add_data_rows_to_project",
                api.AddDataRowsRequest(project_id=project.id, dataset_id=dataset_id),
                api.BatchView,
            )
        return project, ids

    async def consensus_project(
        self, org: Org, annotators: list[Identity], labels_per_row: int, rows: int = 1, **create: Any
    ) -> api.ProjectView:
        """A consensus project of ``rows`` rows (one by default), every row labelled
        ``labels_per_row`` times, with ``annotators`` as its annotators."""
        project, _ = await self.project(
            org,
            members={u.user_id: "ANNOTATOR" for u in annotators},
            rows=rows,
            quality_mode="CONSENSUS",
            consensus_label_count=labels_per_row,
            consensus_coverage=1.0,
            **create,
        )
        return project

    sample_row = staticmethod(sample_row)

    async def eventually(self, probe: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 20.0) -> None:
        await eventually(probe, expected, timeout)

    async def queue_counts(self, project_id: str) -> list[Any]:
        """Each task of the project with its kept counters (``submitted_labels``,
        ``open_leases``) beside what its assignments say (``submitted``, ``leases``)."""
        return list(
            await self.rt.pool.fetch(
                "select t.task_id, t.status, t.required_labels, t.submitted_labels, t.open_leases,"
                " (select count(*) from labeling.assignments a where a.task_id = t.task_id"
                "   and a.lease_expires_at is not null) as leases,"
                " (select count(*) from labeling.assignments a where a.task_id = t.task_id"
                "   and a.label_status <> 'DRAFT') as submitted"
                " from labeling.tasks t where t.project_id = $1",
                project_id,
            )
        )

    async def settle(self) -> None:
        """Wait until the projections have applied every event committed so far.

        (A long transaction anywhere on the server holds back gap-safe readers, so this waits
        rather than assuming one catch-up is enough.)"""
        for runner in self.parts.projections:
            cats = list(runner.projection.categories or [])
            name = runner.checkpoint_name

            async def behind(cats: list[str] = cats, name: str = name, runner: Any = runner) -> int:
                await runner.catch_up()
                return int(
                    await self.rt.pool.fetchval(
                        "select count(*) from eventlog.events e, eventlog.checkpoints c where c.name = $2"
                        " and e.category = any($1::text[])"
                        " and (e.tx_id, e.global_position) > (c.tx_id, c.global_position)",
                        cats,
                        name,
                    )
                )

            await eventually(behind, 0)


async def eventually(probe: Callable[[], Awaitable[Any]], expected: Any, timeout: float = 20.0) -> None:
    """Wait until ``probe()`` returns ``expected`` (consumers and projections are asynchronous)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        got = await probe()
        if got == expected:
            return
        if asyncio.get_running_loop().time() > deadline:
            raise AssertionError(f"timed out: got {got!r}, expected {expected!r}")
        await asyncio.sleep(0.02)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def service(settings: Settings, js: Any) -> AsyncIterator[Harness]:
    # Labeling alone, in a namespace of its own: other packages' harnesses in the same run
    # serve ingest on the run's namespace, and labeling asks ingest about rows (their ingest
    # has not seen the rows these tests write as events).
    settings = msgspec.structs.replace(settings, namespace=f"{settings.namespace}lab")
    rt = await open_runtime(settings)
    parts = await build(rt)
    stop = asyncio.Event()
    tasks = await start_parts([parts], stop)
    relay = Relay(rt.store, rt.nc, namespace=settings.namespace)
    tasks.append(asyncio.create_task(relay.run(stop)))
    yield Harness(rt, parts)
    await stop_parts([parts], tasks, stop)
    with contextlib.suppress(Exception):
        await delete_namespace_streams(rt.js, settings.namespace)
    await rt.close()
