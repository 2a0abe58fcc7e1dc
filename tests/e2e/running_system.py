"""``preflog up`` in a subprocess, and a client that talks to it only over HTTP and WebSocket.

The process gets its own database (copied from the test plugin's migrated template), its own
NATS namespace, a free port and a known bootstrap token, exactly through the environment
variables an operator would set.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import websockets

from preflog_testing.system import Up, start

REPO_ROOT = Path(__file__).resolve().parents[2]
FIXTURES = (REPO_ROOT / "../shared/fixtures").resolve()


def fixture_json(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


class GraphQLError(AssertionError):
    """A GraphQL answer with errors where data was expected."""

    def __init__(self, errors: list[dict[str, Any]]) -> None:
        super().__init__(json.dumps(errors, indent=1)[:2000])
        self.errors = errors

    @property
    def code(self) -> str:
        return str(self.errors[0].get("extensions", {}).get("code"))


@dataclass
class Client:
    """One frontend session: a token and an HTTP connection to the gateway."""

    http: httpx.AsyncClient
    token: str
    user_id: str = ""
    name: str = ""

    @property
    def headers(self) -> dict[str, str]:
        return {"authorization": f"Bearer {self.token}", "user-agent": f"e2e/{self.name}"}

    async def raw(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = await self.http.post(
            "/graphql",
            json={"query": query, "variables": variables or {}},
            headers=self.headers,
        )
        # A request refused before execution (no token, rate limit, a database outage) has
        # an HTTP status of its own, and still the API's error shape.
        assert r.status_code == 200 or '"errors"' in r.text, (r.status_code, r.text)
        body: dict[str, Any] = r.json()
        return body

    async def gql(self, query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        """The ``data`` of a successful answer; raises :class:`GraphQLError` otherwise."""
        body = await self.raw(query, variables)
        if body.get("errors"):
            raise GraphQLError(body["errors"])
        data: dict[str, Any] = body["data"]
        return data

    async def error_code(self, query: str, variables: dict[str, Any] | None = None) -> str:
        """The ``extensions.code`` of the first error (the call must fail)."""
        body = await self.raw(query, variables)
        assert body.get("errors"), f"expected an error, got {body}"
        return str(body["errors"][0]["extensions"]["code"])


@dataclass
class System:
    url: str
    ws_url: str
    admin_token: str
    up: Up
    http: httpx.AsyncClient
    clients: list[Client] = field(default_factory=list)

    @classmethod
    def of(cls, up: Up, http: httpx.AsyncClient) -> System:
        """The running ``up``, spoken to through ``http``."""
        return cls(up.url, f"ws://127.0.0.1:{up.port}/graphql", up.token, up, http)

    def client(self, token: str, user_id: str = "", name: str = "") -> Client:
        return Client(self.http, token, user_id, name)

    @property
    def admin(self) -> Client:
        return self.client(self.admin_token, name="admin")

    def log_tail(self, lines: int = 60) -> str:
        return "\n".join(self.up.log().splitlines()[-lines:])


@contextlib.asynccontextmanager
async def preflog_up(
    database_url: str, nats_url: str, log_dir: Path, **extra_env: str
) -> AsyncIterator[System]:
    """``preflog up`` as a subprocess, ready; stopped (SIGTERM, then kill) at the end."""
    up = await start(database_url, nats_url, log_dir, prefix="e2e", extra_env=extra_env)
    try:
        async with httpx.AsyncClient(base_url=up.url, timeout=30) as http:
            yield System.of(up, http)
    finally:
        await up.stop()


class Subscription:
    """One graphql-transport-ws subscription, as a browser's GraphQL client opens it."""

    def __init__(self, ws: Any, field_name: str) -> None:
        self.ws = ws
        self.field_name = field_name
        self.received: list[dict[str, Any]] = []

    @classmethod
    async def open(
        cls, ws_url: str, token: str, query: str, variables: dict[str, Any], field_name: str
    ) -> Subscription:
        ws = await websockets.connect(ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await asyncio.wait_for(ws.recv(), 10))
        assert ack["type"] == "connection_ack", ack
        await ws.send(
            json.dumps(
                {
                    "id": "1",
                    "type": "subscribe",
                    "payload": {"query": query, "variables": variables},
                }
            )
        )
        return cls(ws, field_name)

    async def next(self, timeout: float = 10.0) -> dict[str, Any]:
        while True:
            msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
            if msg["type"] == "ping":
                await self.ws.send(json.dumps({"type": "pong"}))
                continue
            assert msg["type"] == "next", msg
            assert not msg["payload"].get("errors"), msg
            event = dict(msg["payload"]["data"][self.field_name])
            self.received.append(event)
            return event

    async def drain_until(self, done: Any, timeout: float = 20.0) -> list[dict[str, Any]]:
        """Receive until ``done(received)`` is true; everything received so far."""
        deadline = time.monotonic() + timeout
        while not done(self.received):
            left = deadline - time.monotonic()
            if left <= 0:
                raise AssertionError(
                    f"subscription stalled after {len(self.received)} events: "
                    f"{[e.get('type') for e in self.received][-10:]}"
                )
            await self.next(left)
        return self.received

    async def silent_for(self, seconds: float) -> bool:
        try:
            msg = await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message: {msg}")

    async def close(self) -> None:
        with contextlib.suppress(Exception):
            await self.ws.send(json.dumps({"id": "1", "type": "complete"}))
        await self.ws.close()
