"""The ingest service running on real Postgres and NATS, called exactly as the gateway does."""

from __future__ import annotations

import asyncio
import contextlib
import http.server
import json
import threading
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import asyncpg
import msgspec
import pytest
import pytest_asyncio
from nats.aio.client import Client
from nats.js import JetStreamContext

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.events.projects import MemberAdded, OntologyUpdated, ProjectCreated
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.ingest import (
    CHUNK_TIMEOUT_SECONDS,
    MAX_CHUNK_BYTES,
    ChunkAck,
    CreateDatasetRequest,
    DatasetView,
    GetImportRequest,
    ImportChunk,
    ImportStartedView,
    ImportView,
    StartImportRequest,
)
from preflog_eventstore import ANY, EventStore, StreamWrite
from preflog_eventstore.relay import Relay
from preflog_ingest.bootstrap import build
from preflog_messaging import CallContext, RpcClient, ensure_events_stream, events_stream
from preflog_messaging.runtime import Runtime, ServiceParts, start_parts, stop_parts
from preflog_settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[4]
FIXTURES = (REPO_ROOT / "../shared/fixtures").resolve()
T = TypeVar("T")


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


def load_fixture(relative: str) -> Any:
    return json.loads(fixture_bytes(relative))


@dataclass
class Ingest:
    """A running ingest service and a client calling it over NATS."""

    rpc: RpcClient
    store: EventStore
    pool: asyncpg.Pool

    async def call(
        self,
        op: str,
        body: Any,
        who: Identity,
        response_type: type[T] = Any,  # type: ignore[assignment]
        *,
        idempotency_key: str | None = None,
        timeout: float | None = None,
    ) -> T:
        ctx = CallContext(identity=who, idempotency_key=idempotency_key, user_agent="tests")
        return await self.rpc.call(
            "ingest", op, body, ctx=ctx, response_type=response_type, timeout=timeout
        )

    async def dataset(self, admin: Identity, name: str | None = None) -> DatasetView:
        return await self.call(
            "create_dataset",
            CreateDatasetRequest(name=name or f"ds-{uuid.uuid4().hex[:8]}"),
            admin,
            DatasetView,
        )

    async def start_import(
        self, who: Identity, dataset_id: str, content_type: str
    ) -> ImportStartedView:
        return await self.call(
            "start_import",
            StartImportRequest(dataset_id=dataset_id, content_type=content_type),
            who,
            ImportStartedView,
        )

    async def import_body(
        self,
        who: Identity,
        dataset_id: str,
        body: bytes,
        content_type: str,
        *,
        chunk_size: int = MAX_CHUNK_BYTES,
    ) -> ImportView:
        """Send a body the way the gateway streams a request: sequential awaited chunks."""
        started = await self.start_import(who, dataset_id, content_type)
        pieces = [body[i : i + chunk_size] for i in range(0, len(body), chunk_size)] or [b""]
        for seq, piece in enumerate(pieces):
            ack = await self.call(
                "import_chunk",
                ImportChunk(
                    import_id=started.import_id, seq=seq, data=piece, final=seq == len(pieces) - 1
                ),
                who,
                ChunkAck,
                timeout=CHUNK_TIMEOUT_SECONDS,
            )
        assert ack.status in ("COMPLETED", "FAILED")
        return await self.report(who, started.import_id)

    async def report(self, who: Identity, import_id: str) -> ImportView:
        return await self.call(
            "get_import", GetImportRequest(import_id=import_id, errors_limit=500), who, ImportView
        )

    async def append_as_labeling(self, org_id: str, events: list[Any]) -> None:
        """Project events exactly as the labeling service records them."""
        for event in events:
            await self.store.append(
                StreamWrite(stream_name("project", event.project_id), [event], ANY),
                org_id=org_id,
                metadata=Metadata(actor_id="labeling-test", actor_role="OWNER"),
            )

    async def until(self, check: Callable[[], Awaitable[bool]], what: str) -> None:
        """Wait (up to a generous bound) for the consumer to learn something."""
        for _ in range(400):
            if await check():
                return
            await asyncio.sleep(0.05)
        raise AssertionError(f"timed out waiting for {what}")


def admin_of(org_id: str | None = None) -> Identity:
    return Identity(user_id=str(uuid.uuid4()), org_id=org_id or str(uuid.uuid4()), org_role="ADMIN")


def member_of(org_id: str) -> Identity:
    return Identity(user_id=str(uuid.uuid4()), org_id=org_id, org_role="MEMBER")


async def make_manager(ingest: Ingest, org_id: str, role: str = "MANAGER") -> tuple[Identity, str]:
    """A member who is ``role`` of a new project (learned through the consumer)."""
    who = member_of(org_id)
    project_id = str(uuid.uuid4())
    await ingest.append_as_labeling(
        org_id,
        [
            ProjectCreated(project_id=project_id, name="p", owner_id=str(uuid.uuid4())),
            OntologyUpdated(project_id=project_id, version=0, questions=[]),
            MemberAdded(project_id=project_id, user_id=who.user_id, role=role),
        ],
    )

    async def learned() -> bool:
        found = await ingest.pool.fetchval(
            "select role from ingest.project_members where project_id = $1 and user_id = $2",
            project_id,
            who.user_id,
        )
        return found == role

    await ingest.until(learned, "the member's role")
    return who, project_id


@contextlib.asynccontextmanager
async def running_ingest(
    settings: Settings, pool: asyncpg.Pool, store: EventStore, nc: Client, js: JetStreamContext
) -> AsyncIterator[Ingest]:
    rpc = RpcClient(nc, namespace=settings.namespace, secret=settings.internal_secret, timeout=30)
    runtime = Runtime(settings, pool, store, nc, js, rpc)
    parts: list[ServiceParts] = [await build(runtime)]
    stop = asyncio.Event()
    tasks = await start_parts(parts, stop)
    relay = Relay(store, nc, namespace=settings.namespace)
    tasks.append(asyncio.create_task(relay.run(stop)))
    try:
        yield Ingest(rpc, store, pool)
    finally:
        await stop_parts(parts, tasks, stop)


@pytest_asyncio.fixture(scope="session", loop_scope="session")
async def ingest(
    settings: Settings, pool: asyncpg.Pool, store: EventStore, nc: Client, js: JetStreamContext
) -> AsyncIterator[Ingest]:
    """The service with the test settings (127.0.0.1 and localhost allowed for URLs)."""
    async with running_ingest(settings, pool, store, nc, js) as running:
        yield running


@pytest_asyncio.fixture(loop_scope="session")
async def strict_ingest(
    settings: Settings,
    pool: asyncpg.Pool,
    store: EventStore,
    nc: Client,
    js: JetStreamContext,
    fresh_namespace: str,
) -> AsyncIterator[Ingest]:
    """The service with production URL rules (nothing private allowed), in its own namespace
    so it never answers the other service's calls."""
    strict = msgspec.structs.replace(
        settings, namespace=fresh_namespace, url_allow_hosts="", url_fetch_max_bytes=64 * 1024
    )
    await ensure_events_stream(js, fresh_namespace)
    try:
        async with running_ingest(strict, pool, store, nc, js) as running:
            yield running
    finally:
        with contextlib.suppress(Exception):
            await js.delete_stream(events_stream(fresh_namespace))


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves the fixtures folder; ``/redirect?to=URL`` redirects; records every path."""

    def do_GET(self) -> None:
        self.server.paths.append(self.path)  # type: ignore[attr-defined]
        if self.path.startswith("/redirect?to="):
            self.send_response(302)
            self.send_header("Location", self.path.split("=", 1)[1])
            self.end_headers()
            return
        if self.path.startswith("/big"):
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.end_headers()
            self.wfile.write(b'{"pad": "' + b"x" * (256 * 1024) + b'"}')
            return
        super().do_GET()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@dataclass
class FixtureServer:
    base_url: str
    paths: list[str]


@pytest.fixture
def fixture_server() -> Iterator[FixtureServer]:
    """The fixtures folder over HTTP on 127.0.0.1 (an ephemeral port)."""

    def handler(*args: Any, **kwargs: Any) -> _Handler:
        return _Handler(*args, directory=str(FIXTURES), **kwargs)

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    server.paths = []  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield FixtureServer(f"http://127.0.0.1:{server.server_address[1]}", server.paths)  # type: ignore[attr-defined]
    finally:
        server.shutdown()
        server.server_close()


class Listener:
    """A bare TCP listener that only counts connections (nothing should ever connect)."""

    def __init__(self, host: str) -> None:
        import socket

        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.sock.bind((host, 0))
        self.sock.listen(16)
        self.sock.setblocking(False)
        self.port = self.sock.getsockname()[1]
        self.host = host

    def connections(self) -> int:
        count = 0
        while True:
            try:
                conn, _ = self.sock.accept()
            except BlockingIOError:
                return count
            conn.close()
            count += 1


@pytest.fixture
def listener() -> Iterator[Listener]:
    found = Listener("127.0.0.1")
    yield found
    found.sock.close()
