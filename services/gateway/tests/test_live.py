"""Subscriptions over graphql-transport-ws: in order, once, only to those allowed, resumable."""

from __future__ import annotations

import asyncio
import contextlib
import json
import uuid
from typing import Any

import websockets

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.events.projects import (
    ProjectCreated,
    ProjectSettings,
    ProjectSettingsChanged,
)
from preflog_eventstore import StreamWrite

from .conftest import Server
from .test_accounts import new_user

SUB = """subscription($p: ID!, $after: Int) {
  projectEvents(projectId: $p, after: $after) { id position type projectId actor } }"""


class Subscriber:
    def __init__(self, ws: Any) -> None:
        self.ws = ws

    @classmethod
    async def open(
        cls, server: Server, token: str, variables: dict[str, Any], query: str = SUB
    ) -> Subscriber:
        ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
        await ws.send(
            json.dumps({"type": "connection_init", "payload": {"authorization": f"Bearer {token}"}})
        )
        ack = json.loads(await ws.recv())
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
        return cls(ws)

    async def next(self, timeout: float = 5.0) -> dict[str, Any]:
        msg = json.loads(await asyncio.wait_for(self.ws.recv(), timeout))
        assert msg["type"] == "next", msg
        (event,) = msg["payload"]["data"].values()
        return dict(event)

    async def nothing_within(self, seconds: float) -> bool:
        try:
            await asyncio.wait_for(self.ws.recv(), seconds)
        except TimeoutError:
            return True
        return False

    async def close(self) -> None:
        await self.ws.close()


async def admin_org(server: Server) -> str:
    body = await server.gql("{ viewer { id } organization { id } }")
    return str(body["data"]["organization"]["id"])


async def append_project_events(
    server: Server, org_id: str, project_id: str, n: int, task_id: str | None = None
) -> None:
    meta = Metadata(actor_id="someone", actor_role="OWNER", project_id=project_id, task_id=task_id)
    for _ in range(n):
        await server.runtime.store.append(
            StreamWrite(
                stream_name("project", project_id),
                [ProjectSettingsChanged(project_id=project_id, settings=ProjectSettings())],
            ),
            org_id=org_id,
            metadata=meta,
        )


async def test_events_arrive_in_order_once_and_resume_after_reconnect(server: Server) -> None:
    org_id = await admin_org(server)
    project_id = str(uuid.uuid4())
    sub = await Subscriber.open(server, server.admin_token, {"p": project_id})
    await asyncio.sleep(0.2)  # the subscription is registered before the events commit
    await append_project_events(server, org_id, project_id, 5)
    got = [await sub.next() for _ in range(3)]
    await sub.close()
    positions = [g["position"] for g in got]
    assert positions == sorted(positions) and len(set(positions)) == 3
    assert all(g["projectId"] == project_id for g in got)
    # Reconnect with the last seen position: exactly the two missed, then live ones.
    again = await Subscriber.open(
        server, server.admin_token, {"p": project_id, "after": positions[-1]}
    )
    rest = [await again.next() for _ in range(2)]
    assert [r["position"] for r in rest] == sorted(r["position"] for r in rest)
    assert not {r["id"] for r in rest} & {g["id"] for g in got}
    await append_project_events(server, org_id, project_id, 1)
    live = await again.next()
    assert live["position"] > rest[-1]["position"]
    assert await again.nothing_within(0.3)
    await again.close()


async def test_after_zero_replays_the_project_from_its_first_event(server: Server) -> None:
    """A subscriber that has seen nothing yet asks for everything with ``after: 0``; a
    stranger asking the same learns nothing."""
    org_id = await admin_org(server)
    project_id = str(uuid.uuid4())
    await append_project_events(server, org_id, project_id, 3)
    other = await server.gql(
        """mutation($e: String!) { createOrganization(name: "Else", adminEmail: $e, adminName: "E")
           { token { token } } }""",
        {"e": f"{uuid.uuid4().hex[:8]}@else.example"},
    )
    stranger = await Subscriber.open(
        server, other["data"]["createOrganization"]["token"]["token"], {"p": project_id, "after": 0}
    )
    sub = await Subscriber.open(server, server.admin_token, {"p": project_id, "after": 0})
    got = [await sub.next() for _ in range(3)]
    assert all(g["projectId"] == project_id for g in got) and len({g["id"] for g in got}) == 3
    await append_project_events(server, org_id, project_id, 1)
    assert (await sub.next())["position"] > max(g["position"] for g in got)
    assert await sub.nothing_within(0.3)
    assert await stranger.nothing_within(0.1)
    for s in (sub, stranger):
        await s.close()


async def test_a_subscription_delivers_nothing_once_its_token_is_revoked(server: Server) -> None:
    """The WebSocket was admitted with a token; revoking the token ends what it receives."""
    org_id = await admin_org(server)
    project_id = str(uuid.uuid4())
    user_id, token = await new_user(server, role="ADMIN")
    sub = await Subscriber.open(server, token, {"p": project_id})
    await asyncio.sleep(0.2)  # the subscription is registered before the events commit
    await append_project_events(server, org_id, project_id, 1)
    assert (await sub.next())["projectId"] == project_id
    users = await server.gql("{ users { id apiTokens { id } } }")
    token_id = next(u for u in users["data"]["users"] if u["id"] == user_id)["apiTokens"][0]["id"]
    revoked = await server.gql("mutation($t: ID!) { revokeApiToken(tokenId: $t) }", {"t": token_id})
    assert revoked["data"]["revokeApiToken"] is True
    await append_project_events(server, org_id, project_id, 1)
    msg = json.loads(await asyncio.wait_for(sub.ws.recv(), 5))
    assert msg["type"] in ("next", "error"), msg
    errors = msg["payload"]["errors"] if msg["type"] == "next" else msg["payload"]
    assert errors[0]["extensions"]["code"] == "UNAUTHENTICATED", msg
    assert not (msg["payload"].get("data") if msg["type"] == "next" else None)
    await sub.close()


async def test_only_allowed_subscribers_see_events(server: Server) -> None:
    org_id = await admin_org(server)
    project_id = str(uuid.uuid4())
    _, member_token = await new_user(server)
    other = await server.gql(
        """mutation($e: String!) { createOrganization(name: "Else", adminEmail: $e, adminName: "E")
           { token { token } } }""",
        {"e": f"{uuid.uuid4().hex[:8]}@else.example"},
    )
    other_token = other["data"]["createOrganization"]["token"]["token"]
    admin = await Subscriber.open(server, server.admin_token, {"p": project_id})
    member = await Subscriber.open(server, member_token, {"p": project_id})
    stranger = await Subscriber.open(server, other_token, {"p": project_id})
    await asyncio.sleep(0.2)
    await server.runtime.store.append(
        StreamWrite(
            stream_name("project", project_id), [ProjectCreated(project_id=project_id, name="P")]
        ),
        org_id=org_id,
        metadata=Metadata(actor_id="owner-x", actor_role="ADMIN", project_id=project_id),
    )
    assert (await admin.next())["type"] == "ProjectCreated"
    assert await member.nothing_within(0.5)  # not a member of the project
    assert await stranger.nothing_within(0.1)  # another org: nothing at all
    for s in (admin, member, stranger):
        await s.close()


async def test_websocket_without_token_is_refused(server: Server) -> None:
    ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])  # type: ignore[list-item]
    await ws.send(json.dumps({"type": "connection_init", "payload": {}}))
    try:
        await asyncio.wait_for(ws.recv(), 5)
        refused = False
    except websockets.ConnectionClosed as closed:
        refused = closed.rcvd is not None and closed.rcvd.code == 4403
    assert refused


async def test_audit_log_pages_and_filters(server: Server) -> None:
    org_id = await admin_org(server)
    project_id = str(uuid.uuid4())
    await append_project_events(server, org_id, project_id, 3)
    q = """query($p: ID!, $after: String) {
      auditLog(filter: {projectId: $p, types: ["ProjectSettingsChanged"]}, first: 2, after: $after)
      { edges { cursor node { position type } } pageInfo { hasNextPage endCursor } } }"""
    first = (await server.gql(q, {"p": project_id}))["data"]["auditLog"]
    assert len(first["edges"]) == 2 and first["pageInfo"]["hasNextPage"]
    second = (await server.gql(q, {"p": project_id, "after": first["pageInfo"]["endCursor"]}))[
        "data"
    ]["auditLog"]
    assert len(second["edges"]) == 1 and not second["pageInfo"]["hasNextPage"]
    all_positions = [e["node"]["position"] for e in first["edges"] + second["edges"]]
    assert all_positions == sorted(set(all_positions))
    _, member_token = await new_user(server)
    hidden = await server.gql(q, {"p": project_id}, token=member_token)
    assert hidden["data"]["auditLog"]["edges"] == []


async def test_a_subscription_with_a_nul_is_refused_as_invalid_input(server: Server) -> None:
    sub = await Subscriber.open(server, server.admin_token, {"p": "a\u0000b"})
    try:
        msg = json.loads(await asyncio.wait_for(sub.ws.recv(), 5))
        assert msg["type"] == "error", msg
        assert msg["payload"][0]["extensions"]["code"] == "INVALID_INPUT"
    finally:
        await sub.close()


async def test_subscriptions_beyond_the_connections_limit_are_rate_limited(server: Server) -> None:
    """One connection holds at most 100 operations; the next is refused with a code."""
    sub = await Subscriber.open(server, server.admin_token, {"p": str(uuid.uuid4())})
    try:
        for i in range(2, 102):
            payload = {"query": SUB, "variables": {"p": str(uuid.uuid4())}}
            await sub.ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": payload}))
        while True:
            msg = json.loads(await asyncio.wait_for(sub.ws.recv(), 15))
            if msg.get("id") == "101":
                break
        assert msg["type"] == "error", msg
        assert msg["payload"][0]["extensions"]["code"] == "RATE_LIMITED"
    finally:
        await sub.close()


async def test_malformed_websocket_messages_are_refused_cleanly(server: Server) -> None:
    """Protocol violations close the connection with graphql-transport-ws's 44xx codes; a
    subscribe whose query is not text is an INVALID_INPUT error; nothing breaks the gateway."""
    closes = {
        "{nope": 4400,
        json.dumps({"type": "boom"}): 4400,
        json.dumps({"id": "1", "type": "subscribe"}): 4400,
        json.dumps({"type": "connection_init"}): 4429,
    }
    for frame, close_code in closes.items():
        sub = await Subscriber.open(server, server.admin_token, {"p": str(uuid.uuid4())})
        try:
            await sub.ws.send(frame)
            with contextlib.suppress(TimeoutError):
                while True:
                    await asyncio.wait_for(sub.ws.recv(), 5)
        except websockets.ConnectionClosed as closed:
            assert closed.rcvd is not None and closed.rcvd.code == close_code, (frame, closed)
        else:
            raise AssertionError(f"{frame!r} did not close the connection")
        finally:
            await sub.close()
    sub = await Subscriber.open(server, server.admin_token, {"p": str(uuid.uuid4())})
    try:
        for i, payload in enumerate([{"query": 5}, {"query": SUB, "variables": [1]}], start=2):
            await sub.ws.send(json.dumps({"id": str(i), "type": "subscribe", "payload": payload}))
            msg = json.loads(await asyncio.wait_for(sub.ws.recv(), 5))
            assert msg["type"] == "error" and msg["id"] == str(i), msg
            assert msg["payload"][0]["extensions"]["code"] == "INVALID_INPUT"
    finally:
        await sub.close()
    ok = await server.gql("{ viewer { id } }")
    assert "errors" not in ok


async def test_a_subscriber_is_offered_only_its_own_events(server: Server) -> None:
    """Fan-out is indexed: an event goes to the subscriptions of its task or project (and
    to those that asked for its type anywhere), not through every subscriber's match."""
    live = server.parts.live
    org_id = await admin_org(server)
    project_id = str(uuid.uuid4())
    offered: dict[str, list[str | None]] = {}  # subscriber -> the project of each event offered
    got: dict[str, asyncio.Queue[str]] = {}
    consumers = []

    def counting(key: str) -> Any:
        got[key] = asyncio.Queue()

        def match(rec: Any) -> bool:
            offered.setdefault(key, []).append(rec.metadata.project_id)
            return rec.metadata.project_id == project_id

        return match

    async def consume(key: str, stream: Any) -> None:
        async for rec in stream:
            got[key].put_nowait(rec.event_type)

    await live.start()
    for i in range(20):
        key = f"task-{i}"
        consumers.append(
            asyncio.create_task(consume(key, live.subscribe(counting(key), task_id=key)))
        )
    consumers.append(
        asyncio.create_task(
            consume(
                "project",
                live.subscribe(
                    counting("project"), project_id=project_id, also=frozenset({"MemberAdded"})
                ),
            )
        )
    )
    await asyncio.sleep(0.1)  # each generator has registered
    try:
        await append_project_events(server, org_id, project_id, 1, task_id="task-7")
        assert await asyncio.wait_for(got["task-7"].get(), 5) == "ProjectSettingsChanged"
        assert await asyncio.wait_for(got["project"].get(), 5) == "ProjectSettingsChanged"
        # the other tasks' subscribers were offered nothing at all (events of earlier tests
        # still being followed may reach the project's subscriber through its ``also``)
        assert set(offered) == {"task-7", "project"}
        assert offered["task-7"] == [project_id]
        assert offered["project"].count(project_id) == 1
    finally:
        for c in consumers:
            c.cancel()
        await asyncio.gather(*consumers, return_exceptions=True)
    filed = [*live._everything, *(s for subs in live._by_type.values() for s in subs)]
    assert not [s for s in filed if s.task_id and s.task_id.startswith("task-")]
    assert not [s for s in filed if s.project_id == project_id]
    assert not [k for k in live._by_task if k.startswith("task-")]
    assert project_id not in live._by_project
