"""``POST /graphql`` answered in front of litestar (:class:`GraphQLPost`) says exactly what
strawberry's view says, and hands every request it is not sure of to the view unchanged."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from preflog_gateway.graphql.http import graphql_body_cap
from preflog_gateway.graphql.post import GraphQLPost
from preflog_gateway.graphql.schema import build_schema

from .conftest import Server

VIEWER = "{ viewer { id email roles } }"


def _same_requests(email: str) -> list[dict[str, Any]]:
    return [
        {"query": VIEWER},
        {"query": VIEWER, "variables": None},
        {"query": "query A { viewer { id } } query B { viewer { email } }", "operationName": "B"},
        {"query": "{ viewer { "},
        {"query": "{ viewer { nope } }"},
        {
            "query": 'query($at: DateTime!) { taskAsOf(taskId: "t", at: $at) { id } }',
            "variables": {"at": "not a time"},
        },
        {"query": "query($x: Int!) { viewer { id } }"},
        {
            "query": 'mutation($e: String!) { createUser(input: {email: $e, name: "N"}) { id } }',
            "variables": {"e": email},
        },
        # no labeling service runs beside this gateway: UNAVAILABLE
        {"query": f'{{ task(id: "{uuid.uuid4()}") {{ id }} }}'},
    ]


async def _post(server: Server, body: dict[str, Any], token: str | None) -> tuple[int, Any]:
    headers = {"authorization": f"Bearer {token}"} if token else {}
    r = await server.http.post(
        "/graphql",
        content=json.dumps(body).encode(),
        headers={**headers, "content-type": "application/json"},
    )
    return r.status_code, r.json()


@pytest.mark.parametrize("token", ["admin", "wrong", None])
async def test_answers_are_the_views_answers(server: Server, token: str | None) -> None:
    secret = {"admin": server.admin_token, "wrong": "pfl_nope", None: None}[token]
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    await server.gql(_same_requests(email)[-2]["query"], {"e": email})  # exists: CONFLICT
    for body in _same_requests(email):
        # An "extensions" member is one the short path leaves to strawberry's view.
        served = await _post(server, body, secret)
        by_view = await _post(server, {**body, "extensions": {}}, secret)
        assert served == by_view, body


class Downstream:
    """The litestar app's place: records what reaches it."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    async def __call__(self, scope: Any, receive: Any, send: Any) -> None:
        chunks = []
        while True:
            message = await receive()
            chunks.append(message.get("body", b""))
            if not message.get("more_body"):
                break
        self.bodies.append(b"".join(chunks))
        await send({"type": "http.response.start", "status": 299, "headers": []})
        await send({"type": "http.response.body", "body": b"view"})


async def _through(
    post: GraphQLPost, body: bytes, *, headers: dict[str, str], method: str = "POST"
) -> int:
    sent = [
        {"type": "http.request", "body": body[:5], "more_body": True},
        {"type": "http.request", "body": body[5:], "more_body": False},
    ]
    answers: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return sent.pop(0) if sent else {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        answers.append(message)

    scope = {
        "type": "http",
        "method": method,
        "path": "/graphql",
        "headers": [(k.encode(), v.encode()) for k, v in headers.items()],
    }
    await post(scope, receive, send)  # type: ignore[arg-type]
    return int(answers[0]["status"])


async def test_what_it_is_not_sure_of_goes_to_the_view_with_its_body(server: Server) -> None:
    downstream = Downstream()
    gateway = server.parts.gateway
    post = GraphQLPost(
        downstream,
        build_schema(gateway.runtime.settings),
        gateway,
        server.parts.live,
        graphql_body_cap(gateway),
    )
    auth = {"authorization": f"Bearer {server.admin_token}"}

    def headers(body: bytes, **extra: str) -> dict[str, str]:
        return {
            "content-type": "application/json",
            "content-length": str(len(body)),
            **auth,
            **extra,
        }

    to_view = [
        b'{"query": "query A { viewer { id } } query B { viewer { id } }"}',
        b'{"query": "subscription { taskEvents(taskId: \\"t\\") { type } }"}',
        b'{"variables": {}}',
        b'{"query": 7}',
        b'[{"query": "{ viewer { id } }"}]',
        b'{"query": "{ viewer { id } }", "extensions": {}}',
    ]
    for body in to_view:
        assert await _through(post, body, headers=headers(body)) == 299, body
    # not JSON at all: answered here, as JSON with its code (the view answers plain text)
    cut = b'{"query": "{ viewer { id } }"'
    assert await _through(post, cut, headers=headers(cut)) == 400
    streamed = b'{"query": "{ viewer { id } }"}'
    assert (
        await _through(post, streamed, headers=headers(streamed, accept="multipart/mixed")) == 299
    )
    assert downstream.bodies == [*to_view, streamed]

    # not read at all: another content type, no length, above the cap, another method
    untouched = [
        ({"content-type": "text/plain", "content-length": "30", **auth}, "POST"),
        ({"content-type": "application/json", **auth}, "POST"),
        ({"content-type": "application/json", "content-length": str(10**12), **auth}, "POST"),
        (headers(streamed), "GET"),
    ]
    for extra, method in untouched:
        downstream.bodies.clear()
        assert await _through(post, streamed, headers=extra, method=method) == 299
        assert downstream.bodies == [streamed]

    downstream.bodies.clear()
    for body in (streamed, b'{"query": "{ viewer { "}', b'{"query": "{ viewer { id } }"}'):
        assert await _through(post, body, headers=headers(body)) == 200
    assert await _through(post, streamed, headers=headers(streamed, authorization="x")) == 401
    assert downstream.bodies == []
