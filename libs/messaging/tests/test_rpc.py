"""Service calls: typed results, typed errors, signed identities, queue groups."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from nats.aio.client import Client

from preflog_contracts.errors import Forbidden, Invalid, NotFound, Unavailable
from preflog_contracts.identity import Identity
from preflog_eventstore import DATABASE_UNAVAILABLE, EventStore
from preflog_messaging import CallContext, RpcClient, RpcServer


class Echo(msgspec.Struct):
    text: str
    times: int = 1


CTX = CallContext(identity=Identity(user_id="u", org_id="o"), correlation_id="c")


async def test_call_returns_typed_result_and_errors(nc: Client, fresh_namespace: str) -> None:
    server = RpcServer(nc, namespace=fresh_namespace, service="echo", secret="s")

    async def echo(ctx: CallContext, req: Echo) -> Echo:
        if req.text == "missing":
            raise NotFound("no such thing")
        await asyncio.sleep(0.05)
        return Echo(text=req.text * req.times + ctx.require_identity().user_id)

    server.register("echo", Echo, echo)
    await server.start()
    client = RpcClient(nc, namespace=fresh_namespace, secret="s")
    # Many calls at once are served concurrently, not one after another.
    started = asyncio.get_running_loop().time()
    results = await asyncio.gather(
        *(client.call("echo", "echo", Echo("a", 2), ctx=CTX, response_type=Echo) for _ in range(50))
    )
    assert all(r.text == "aau" for r in results)
    assert asyncio.get_running_loop().time() - started < 2.0
    with pytest.raises(NotFound):
        await client.call("echo", "echo", Echo("missing"), ctx=CTX)
    with pytest.raises(Invalid) as bad:
        await client.call("echo", "echo", {"text": 5}, ctx=CTX)
    assert "text" in bad.value.fields
    forged = RpcClient(nc, namespace=fresh_namespace, secret="wrong")
    with pytest.raises(Forbidden):
        await forged.call("echo", "echo", Echo("a"), ctx=CTX)
    with pytest.raises(Unavailable):
        await client.call("nobody", "echo", Echo("a"), ctx=CTX, timeout=0.5)
    await server.stop()


async def test_calls_are_counted_per_operation_and_outcome(
    nc: Client, fresh_namespace: str
) -> None:
    from preflog_observability.metrics import RPC_REQUESTS

    service = f"counted{fresh_namespace}"
    server = RpcServer(nc, namespace=fresh_namespace, service=service, secret="s")

    async def echo(ctx: CallContext, req: Echo) -> Echo:
        if req.text == "missing":
            raise NotFound("no such thing")
        return req

    server.register("echo", Echo, echo)
    await server.start()
    client = RpcClient(nc, namespace=fresh_namespace, secret="s")

    def count(operation: str, outcome: str) -> float:
        value = RPC_REQUESTS.labels(service, operation, outcome)._value.get()
        return float(value)

    for _ in range(3):
        await client.call(service, "echo", Echo("a"), ctx=CTX)
    with pytest.raises(NotFound):
        await client.call(service, "echo", Echo("missing"), ctx=CTX)
    # Subjects that name no operation share one series, whatever a caller puts there.
    for made_up in ("a1", "a2"):
        with pytest.raises(Invalid):
            await client.call(service, made_up, Echo("a"), ctx=CTX)
    assert (count("echo", "ok"), count("echo", "NOT_FOUND"), count("unknown", "INVALID_INPUT")) == (
        3,
        1,
        2,
    )
    assert count("a1", "INVALID_INPUT") == 0
    # the caller's side times every call it waited for, answered or refused
    from preflog_observability.metrics import RPC_CLIENT_LATENCY

    waited = RPC_CLIENT_LATENCY.labels(service, "echo").collect()[0].samples
    assert next(s.value for s in waited if s.name.endswith("_count")) == 4
    await server.stop()


class Batch(msgspec.Struct):
    name: str
    items: list[str]


async def test_text_with_a_nul_is_refused_naming_the_field(
    nc: Client, fresh_namespace: str
) -> None:
    """Postgres stores no U+0000, so no handler sees one: the request is refused with the
    field's path, except in the list a handler checks item by item itself."""
    server = RpcServer(nc, namespace=fresh_namespace, service="nul", secret="s")
    seen: list[Batch] = []

    async def keep(ctx: CallContext, req: Batch) -> int:
        seen.append(req)
        return len(req.items)

    server.register("whole", Batch, keep)
    server.register("items", Batch, keep, items_checked="items")
    await server.start()
    client = RpcClient(nc, namespace=fresh_namespace, secret="s")
    try:
        with pytest.raises(Invalid) as refused:
            await client.call("nul", "whole", Batch("ok", ["a", "b\u0000"]), ctx=CTX)
        assert refused.value.fields == {"items[1]": "must not contain the NUL character (U+0000)"}
        with pytest.raises(Invalid) as named:
            await client.call("nul", "items", Batch("n\u0000", ["a"]), ctx=CTX)
        assert list(named.value.fields) == ["name"]
        assert seen == []
        assert await client.call("nul", "items", Batch("ok", ["b\u0000"]), ctx=CTX) == 1
        # The six characters \u0000 as text are not a NUL.
        assert await client.call("nul", "whole", Batch("\\u0000", []), ctx=CTX) == 0
        assert [b.items for b in seen] == [["b\u0000"], []]
    finally:
        await server.stop()


async def test_a_request_over_the_servers_payload_limit_is_invalid_input(
    nc: Client, fresh_namespace: str
) -> None:
    client = RpcClient(nc, namespace=fresh_namespace, secret="s")
    with pytest.raises(Invalid) as refused:
        await client.call("echo", "echo", Echo("x" * (nc.max_payload + 1)), ctx=CTX)
    assert "body" in refused.value.fields
    assert client.calls == 0


async def test_a_lost_database_connection_answers_unavailable_not_internal(
    nc: Client, fresh_namespace: str, fresh_store: EventStore
) -> None:
    """A handler whose Postgres connection the server ended (a restart, a failover) is not a
    bug: the caller is told UNAVAILABLE, which it may retry."""
    server = RpcServer(nc, namespace=fresh_namespace, service="db", secret="s")
    conn = await fresh_store.pool.acquire()
    try:

        async def read(ctx: CallContext, req: Echo) -> Echo:
            await conn.fetchval("select 1")
            return req

        server.register("read", Echo, read)
        await server.start()
        client = RpcClient(nc, namespace=fresh_namespace, secret="s")
        assert await client.call("db", "read", Echo("a"), ctx=CTX, response_type=Echo) == Echo("a")
        pid = await conn.fetchval("select pg_backend_pid()")
        await fresh_store.pool.fetchval("select pg_terminate_backend($1)", pid)
        with pytest.raises(Unavailable) as lost:
            await client.call("db", "read", Echo("a"), ctx=CTX)
        assert lost.value.message == DATABASE_UNAVAILABLE
    finally:
        await fresh_store.pool.release(conn)
        await server.stop()


async def test_bytes_that_are_no_request_answer_invalid_input_not_internal(
    nc: Client, fresh_namespace: str
) -> None:
    """Malformed JSON, and JSON with a string that is not UTF-8 (msgspec raises Python's
    UnicodeDecodeError for it, not its DecodeError), are a malformed request."""
    server = RpcServer(nc, namespace=fresh_namespace, service="echo", secret="s")

    async def echo(ctx: CallContext, req: Echo) -> Echo:
        return req

    server.register("echo", Echo, echo)
    await server.start()
    try:
        for raw in (b"{not json", b'{"ctx": "\x80"}', b'["\xff\xfe"]'):
            reply = await nc.request(f"{fresh_namespace}.rpc.echo.echo", raw, timeout=5)
            error = msgspec.json.decode(reply.data)["error"]
            assert (error["code"], error["message"]) == ("INVALID_INPUT", "malformed request"), raw
    finally:
        await server.stop()
