"""Service calls: typed results, typed errors, signed identities, queue groups."""

from __future__ import annotations

import asyncio

import msgspec
import pytest
from nats.aio.client import Client

from preflog_contracts.errors import Forbidden, Invalid, NotFound, Unavailable
from preflog_contracts.identity import Identity
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
    await server.stop()
