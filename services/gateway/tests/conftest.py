"""A real gateway (uvicorn) over its own database and NATS namespace, bootstrapped."""

from __future__ import annotations

import asyncio
import contextlib
import uuid
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import httpx
import pytest_asyncio
import uvicorn

from preflog_cli.services import backend_services, builder
from preflog_eventstore import create_database, drop_database
from preflog_eventstore.relay import Relay
from preflog_gateway.app import build_app
from preflog_gateway.bootstrap import on_start
from preflog_gateway.gateway import GatewayParts, gateway_parts
from preflog_messaging import delete_namespace_streams
from preflog_messaging.runtime import (
    Runtime,
    ServiceParts,
    open_runtime,
    start_parts,
    stop_parts,
)
from preflog_settings import load_settings
from preflog_settings.local import free_port
from preflog_testing.infra import Infra


@dataclass
class Server:
    url: str
    ws_url: str
    admin_token: str
    runtime: Runtime
    parts: GatewayParts
    http: httpx.AsyncClient
    greeting: list[str]
    services: list[ServiceParts] = field(default_factory=list)
    """The backend services running beside the gateway (``system``), none for ``server``."""

    async def gql(
        self,
        query: str,
        variables: dict[str, Any] | None = None,
        *,
        token: str | None = None,
        expect_status: int = 200,
    ) -> dict[str, Any]:
        headers = {"authorization": f"Bearer {token or self.admin_token}"}
        r = await self.http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=headers
        )
        assert r.status_code == expect_status, r.text
        body: dict[str, Any] = r.json()
        return body


@contextlib.asynccontextmanager
async def running_gateway(
    infra: Infra, template_database: str, *, services: bool, **overrides: Any
) -> AsyncIterator[Server]:
    """A bootstrapped gateway on uvicorn over its own database and namespace. With
    ``services``, every backend service of ``preflog up`` and the relay run beside it, on
    their own runtime, so ``server.runtime.rpc.calls`` counts only the gateway's calls."""
    name = f"preflog_gw_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(infra.admin_dsn, name, template=template_database)
    port = free_port()
    token = "pfl_bootstrap_" + uuid.uuid4().hex
    settings = load_settings(
        {},
        **{
            "database_url": dsn,
            "nats_url": infra.nats_url,
            "namespace": f"gw{uuid.uuid4().hex[:8]}",
            "http_port": port,
            "bootstrap_token": token,
            "load_demo": False,
            "log_format": "console",
            "rate_limit_per_minute": 600_000,
            **overrides,
        },
    )
    stop = asyncio.Event()
    backend: Runtime | None = None
    parts: list[ServiceParts] = []
    tasks: list[asyncio.Task[None]] = []
    if services:
        backend = await open_runtime(settings)
        parts = [await builder(n)(backend) for n in backend_services()]
        tasks = await start_parts(parts, stop)
        relay = Relay(backend.store, backend.nc, namespace=settings.namespace)
        tasks.append(asyncio.create_task(relay.run(stop)))
    runtime = await open_runtime(settings)
    app = build_app(runtime)
    greeting = await on_start(runtime)
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="off", ws="websockets"
    )
    uv = uvicorn.Server(config)
    uv.install_signal_handlers = lambda: None  # type: ignore[method-assign]
    task = asyncio.create_task(uv.serve())
    while not uv.started:  # noqa: ASYNC110  (uvicorn offers no event for it)
        await asyncio.sleep(0.02)
    url = f"http://127.0.0.1:{port}"
    try:
        async with httpx.AsyncClient(base_url=url, timeout=60) as http:
            yield Server(
                url,
                f"ws://127.0.0.1:{port}/graphql",
                token,
                runtime,
                gateway_parts(runtime),
                http,
                greeting,
                parts,
            )
    finally:
        uv.should_exit = True
        with contextlib.suppress(Exception):
            await asyncio.wait_for(task, 10)
        await gateway_parts(runtime).stop()
        with contextlib.suppress(Exception):
            await delete_namespace_streams(runtime.js, settings.namespace)
        await runtime.close()
        if backend is not None:
            await stop_parts(parts, tasks, stop)
            # Not drained: stopped consumers may leave pull requests that a drain waits out.
            await backend.nc.close()
            await backend.pool.close()
        await drop_database(infra.admin_dsn, name)


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def server(infra: Infra, template_database: str) -> AsyncIterator[Server]:
    """The gateway alone (no backend service answers)."""
    async with running_gateway(infra, template_database, services=False) as running:
        yield running


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def system(infra: Infra, template_database: str) -> AsyncIterator[Server]:
    """The gateway with every backend service running, as ``preflog up`` runs them."""
    async with running_gateway(infra, template_database, services=True) as running:
        yield running
