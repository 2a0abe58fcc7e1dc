"""Every refusal carries an API.md code and nothing internal (provoked one by one)."""

from __future__ import annotations

import asyncio
import json
import logging
import re
import uuid

import asyncpg
import httpx
import pytest
import websockets
from graphql import GraphQLError

from preflog_contracts.errors import Conflict, Invalid
from preflog_eventstore import DATABASE_UNAVAILABLE
from preflog_gateway.graphql.errors import public_error, public_failure
from preflog_gateway.graphql.schema import build_schema
from preflog_gateway.limits import RateLimiter
from preflog_settings import load_settings

from .conftest import Server

INTERNALS = re.compile(
    r"Traceback|File \"|\.py\b|asyncpg|psycopg|SELECT |INSERT |eventlog\.|gateway\.|preflog_|nats",
    re.I,
)


def assert_clean(body: dict) -> None:
    text = str(body)
    assert not INTERNALS.search(text), text


async def post_json_bytes(server: Server, body: bytes) -> httpx.Response:
    """``body`` as it is (however malformed), as JSON, with the admin's token."""
    return await server.http.post(
        "/graphql",
        content=body,
        headers={
            "authorization": f"Bearer {server.admin_token}",
            "content-type": "application/json",
        },
    )


def code(body: dict) -> str:
    return str(body["errors"][0]["extensions"]["code"])


async def test_syntax_and_validation_errors_are_invalid_input(server: Server) -> None:
    for query in ("{ viewer { ", "{ viewer { nope } }", "query($x: Int!) { viewer { id } }"):
        body = await server.gql(query)
        assert code(body) == "INVALID_INPUT"
        assert_clean(body)


async def test_bad_variable_is_invalid_input(server: Server) -> None:
    body = await server.gql(
        'query($at: DateTime!) { taskAsOf(taskId: "t", at: $at) { id } }', {"at": "not a time"}
    )
    assert code(body) == "INVALID_INPUT"
    assert_clean(body)


async def test_depth_and_complexity_and_page_size_limits(server: Server) -> None:
    deep = "{ viewer { apiTokens { id } } }"
    nested = '{ project(id: "p") { tasks { edges { node { labels { task { labels { task {'
    nested += " labels { task { labels { id } } } } } } } } } } } }"
    assert code(await server.gql(nested)) == "INVALID_INPUT"
    assert "errors" not in await server.gql(deep)
    costly = "{ auditLog(filter: {}, first: 500) { edges { node { id type data actor position"
    costly += " streamName occurredAt correlationId } } } a: auditLog(filter: {}, first: 500)"
    costly += " { edges { node { id type data actor position } } } }"
    body = await server.gql(costly)
    assert code(body) == "INVALID_INPUT" and "complex" in body["errors"][0]["message"]
    page = await server.gql("{ auditLog(filter: {}, first: 501) { edges { cursor } } }")
    assert code(page) == "INVALID_INPUT" and "first" in page["errors"][0]["extensions"]["fields"]
    cursor = await server.gql('{ auditLog(filter: {}, after: "x;drop") { edges { cursor } } }')
    assert code(cursor) == "INVALID_INPUT"


async def test_body_size_cap(server: Server) -> None:
    big = "#" * (9 * 1024 * 1024) + "\n{ viewer { id } }"
    r = await server.http.post(
        "/graphql",
        json={"query": big},
        headers={"authorization": f"Bearer {server.admin_token}"},
    )
    assert r.status_code in (400, 413)
    if r.status_code == 400:
        assert code(r.json()) == "INVALID_INPUT"


async def test_a_body_that_is_not_json_is_a_400(server: Server) -> None:
    r = await post_json_bytes(server, b'{"query": "{ viewer { id } }"')  # cut short
    assert r.status_code == 400
    assert_clean({"body": r.text})


async def test_a_string_that_is_not_utf8_is_a_400(server: Server) -> None:
    r = await post_json_bytes(server, b'{"query": "{ viewer { id } }", "operationName": "\x80"}')
    assert r.status_code == 400 and r.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert_clean({"body": r.text})


async def test_json_nested_too_deep_is_a_400(server: Server) -> None:
    depth = 200_000  # under the body cap; deeper than any decoder recurses
    body = b'{"query": "{ viewer { id } }", "variables": {"a": ' + b"[" * depth
    body += b"]" * depth + b"}}"
    r = await post_json_bytes(server, body)
    assert r.status_code == 400
    assert_clean({"body": r.text})


async def test_a_deeply_nested_json_variable_is_refused_cleanly(server: Server) -> None:
    query = (
        'mutation($a: JSON!) { answerQuestion(taskId: "t", questionId: "q", answer: $a) { id } }'
    )
    # 500 levels reach the resolver; deeper ones exceed the JSON decoder's recursion limit
    for depth in (500, 990, 5_000):
        value = "[" * depth + "1" + "]" * depth
        body = f'{{"query": {json.dumps(query)}, "variables": {{"a": {value}}}}}'.encode()
        r = await post_json_bytes(server, body)
        assert r.status_code in (200, 400), (depth, r.status_code)
        assert_clean({"body": r.text})
        if r.status_code == 200:
            # no labeling service runs beside this gateway: the call itself is UNAVAILABLE
            assert code(r.json()) in ("INVALID_INPUT", "UNAVAILABLE"), r.text[:500]


async def test_rate_limit_per_token(server: Server) -> None:
    gateway = server.parts.gateway
    saved = gateway.rate_limiter
    gateway.rate_limiter = RateLimiter(1, burst=2)  # refills one a minute: none meanwhile
    try:
        statuses = [
            (
                await server.http.post(
                    "/graphql",
                    json={"query": "{ viewer { id } }"},
                    headers={"authorization": f"Bearer {server.admin_token}"},
                )
            ).status_code
            for _ in range(4)
        ]
    finally:
        gateway.rate_limiter = saved
    assert statuses[:2] == [200, 200] and statuses[-1] == 429


async def test_each_mutation_of_a_request_counts_against_the_rate(server: Server) -> None:
    """Twenty aliased mutations in one request are twenty requests' worth: aliases do not
    get around the limit, nor does a WebSocket."""
    gateway = server.parts.gateway
    saved = gateway.rate_limiter
    gateway.rate_limiter = RateLimiter(1, burst=30)  # refills one a minute: none meanwhile
    aliases = " ".join(f'r{i}: revokeApiToken(tokenId: "{uuid.uuid4()}")' for i in range(20))
    try:
        first = await server.gql(f"mutation {{ {aliases} }}")
        assert {e["extensions"]["code"] for e in first["errors"]} == {"NOT_FOUND"}
        second = await server.gql(f"mutation {{ {aliases} }}")
        assert code(second) == "RATE_LIMITED" and second["data"] is None
        gateway.rate_limiter = RateLimiter(1, burst=2)
        ws = await websockets.connect(server.ws_url, subprotocols=["graphql-transport-ws"])
        try:
            init = {"authorization": f"Bearer {server.admin_token}"}
            await ws.send(json.dumps({"type": "connection_init", "payload": init}))
            await ws.recv()
            codes = []
            for i in range(3):
                query = f'mutation {{ revokeApiToken(tokenId: "{uuid.uuid4()}") }}'
                await ws.send(
                    json.dumps({"id": str(i), "type": "subscribe", "payload": {"query": query}})
                )
                msg = json.loads(await asyncio.wait_for(ws.recv(), 5))
                if msg["type"] == "error":  # refused before execution: no "complete" follows
                    codes.append(msg["payload"][0]["extensions"]["code"])
                else:
                    codes.append(msg["payload"]["errors"][0]["extensions"]["code"])
                    await asyncio.wait_for(ws.recv(), 5)  # complete
            assert codes == ["NOT_FOUND", "NOT_FOUND", "RATE_LIMITED"]
        finally:
            await ws.close()
    finally:
        gateway.rate_limiter = saved


async def test_service_down_is_unavailable(server: Server) -> None:
    # No labeling service runs beside this gateway: the call finds no responder.
    body = await server.gql(f'{{ task(id: "{uuid.uuid4()}") {{ id }} }}')
    assert code(body) == "UNAVAILABLE"
    assert_clean(body)


async def test_conflict_code(server: Server) -> None:
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    q = 'mutation($e: String!) { createUser(input: {email: $e, name: "N"}) { id } }'
    await server.gql(q, {"e": email})
    assert code(await server.gql(q, {"e": email})) == "CONFLICT"


def test_unexpected_errors_are_masked_as_internal() -> None:
    leaked = GraphQLError(
        "boom", path=["x"], original_error=RuntimeError('SELECT * FROM eventlog.events "x.py"')
    )
    masked = public_error(leaked)
    assert masked.message == "internal error" and masked.extensions == {"code": "INTERNAL"}
    invalid = public_error(GraphQLError("x", path=["y"], original_error=Invalid("bad", {"a": "b"})))
    assert invalid.extensions == {"code": "INVALID_INPUT", "fields": {"a": "b"}}
    conflict = public_error(GraphQLError("x", path=["y"], original_error=Conflict("again")))
    assert conflict.extensions == {"code": "CONFLICT"} and conflict.message == "again"


def test_rate_limiter_refills() -> None:
    limiter = RateLimiter(60, burst=1)
    assert limiter.allow("t", now=0.0) and not limiter.allow("t", now=0.5)
    assert limiter.allow("t", now=1.6)
    assert limiter.allow("other", now=0.5)


def test_refusals_are_not_logged_as_errors(caplog: pytest.LogCaptureFixture) -> None:
    """A refused request is the client's business: strawberry's default would log each at
    ERROR with its trace, burying the real incidents."""
    schema = build_schema(load_settings({}))
    refusals = [
        GraphQLError("x", path=["y"], original_error=Conflict("again")),
        GraphQLError("x", path=["y"], original_error=Invalid("bad", {"a": "b"})),
        GraphQLError("Syntax Error: Unexpected Name 'quer'."),
    ]
    with caplog.at_level(logging.DEBUG):
        schema.process_errors(refusals)
    assert not [r for r in caplog.records if r.levelno >= logging.ERROR]
    assert not [r for r in caplog.records if r.name.startswith("strawberry")]


async def test_text_with_a_nul_is_refused_before_any_service_call(server: Server) -> None:
    """No service could store U+0000: a variable or a literal holding one is INVALID_INPUT
    naming where it is, and no service is called."""
    calls = server.runtime.rpc.calls
    body = await server.gql(
        "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
        {"i": {"name": "p", "description": "a\u0000b"}},
    )
    assert code(body) == "INVALID_INPUT"
    assert body["errors"][0]["extensions"]["fields"] == {
        "i.description": "must not contain the NUL character (U+0000)"
    }
    literal = await server.gql('mutation { createDataset(name: "a\\u0000b") { id } }')
    assert code(literal) == "INVALID_INPUT" and "NUL" in literal["errors"][0]["message"]
    assert server.runtime.rpc.calls == calls
    assert_clean(body)


async def test_a_body_that_is_not_json_is_answered_as_json(server: Server) -> None:
    for raw in (b'{"query": "{ viewer { id } }"', b'{"query": "\\ud800"}', b"[" * 3000):
        r = await post_json_bytes(server, raw)
        assert r.status_code == 400
        assert code(r.json()) == "INVALID_INPUT"
        assert_clean(r.json())


@pytest.mark.parametrize(
    "lost",
    [
        asyncpg.ConnectionDoesNotExistError("connection was closed in the middle of operation"),
        asyncpg.AdminShutdownError("terminating connection due to administrator command"),
        asyncpg.InterfaceError("connection is closed"),
        asyncpg.InternalClientError(
            "cannot switch to state 11; another operation (2) is in progress"
        ),
        ConnectionResetError(104, "Connection reset by peer"),
    ],
)
def test_a_lost_database_connection_is_unavailable_and_says_nothing_internal(
    lost: Exception,
) -> None:
    error = public_error(GraphQLError("x", original_error=lost, path=["viewer"]))
    assert error.extensions == {"code": "UNAVAILABLE"}
    assert error.message == DATABASE_UNAVAILABLE
    refused = public_failure(lost, "test")
    assert (refused.code.value, refused.message) == ("UNAVAILABLE", DATABASE_UNAVAILABLE)


def test_a_statement_timeout_is_not_taken_for_a_lost_connection() -> None:
    slow = asyncpg.QueryCanceledError("canceling statement due to statement timeout")
    assert public_error(GraphQLError("x", original_error=slow, path=["t"])).extensions == {
        "code": "INTERNAL"
    }


async def test_two_authorization_headers_are_refused(server: Server) -> None:
    """Which of two would count depends on the code reading them: neither does."""
    headers = [
        ("authorization", f"Bearer {server.admin_token}"),
        ("authorization", "Bearer pfl_someone_else_entirely_0000000000"),
    ]
    graphql = await server.http.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers=headers
    )
    assert graphql.status_code == 400
    assert graphql.json()["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    rest = await server.http.get("/v1/imports/whatever", headers=headers)
    assert rest.status_code == 400 and rest.json()["code"] == "INVALID_INPUT"
    one = await server.http.post(
        "/graphql", json={"query": "{ viewer { id } }"}, headers=headers[:1]
    )
    assert one.status_code == 200 and one.json()["data"]["viewer"]["id"]
