"""Credit-based streams over NATS: order, back-pressure, typed errors, cancellation."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import msgspec
import pytest
from nats.aio.client import Client

from preflog_contracts.errors import Forbidden, Invalid, NotFound, Unavailable
from preflog_contracts.identity import Identity
from preflog_messaging import CallContext, RpcClient, RpcServer
from preflog_messaging.streams import (
    StreamOpen,
    StreamOpened,
    StreamServer,
    stream_call,
)

CTX = CallContext(identity=Identity(user_id="u", org_id="o"), correlation_id="c")


class Count(msgspec.Struct, frozen=True, forbid_unknown_fields=True):
    upto: int
    fail_at: int | None = None


class Probe:
    """What the producer did, seen from the test."""

    def __init__(self) -> None:
        self.produced = 0
        self.closed = asyncio.Event()


async def _serve(
    nc: Client, namespace: str, probe: Probe, **options: float
) -> tuple[RpcServer, StreamServer, RpcClient]:
    rpc = RpcServer(nc, namespace=namespace, service="counter", secret="s")
    streams = StreamServer(rpc, **options)  # type: ignore[arg-type]

    async def count(ctx: CallContext, req: Count) -> AsyncIterator[bytes]:
        if req.upto < 0:
            raise Invalid("upto must not be negative", {"upto": "at least 0"})
        ctx.require_identity()

        async def chunks() -> AsyncIterator[bytes]:
            try:
                for i in range(req.upto):
                    if req.fail_at == i:
                        raise NotFound("ran out")
                    probe.produced += 1
                    yield f"{i}\n".encode()
                    await asyncio.sleep(0)
            finally:
                probe.closed.set()

        return chunks()

    streams.register("count", Count, count)
    await rpc.start()
    return rpc, streams, RpcClient(nc, namespace=namespace, secret="s")


async def test_chunks_arrive_in_order_and_the_stream_ends(nc: Client, fresh_namespace: str) -> None:
    probe = Probe()
    rpc, streams, client = await _serve(nc, fresh_namespace, probe)
    got = [c async for c in stream_call(client, "counter", "count", Count(500), ctx=CTX, window=4)]
    assert b"".join(got) == b"".join(f"{i}\n".encode() for i in range(500))
    await asyncio.wait_for(probe.closed.wait(), 5)
    assert streams.open_streams == 0
    await streams.close()
    await rpc.stop()


async def test_a_slow_reader_bounds_how_far_the_producer_runs_ahead(
    nc: Client, fresh_namespace: str
) -> None:
    probe = Probe()
    rpc, streams, client = await _serve(nc, fresh_namespace, probe)
    window = 8
    ahead: list[int] = []
    received = 0
    async for _ in stream_call(client, "counter", "count", Count(200), ctx=CTX, window=window):
        received += 1
        await asyncio.sleep(0.005)
        ahead.append(probe.produced - received)
    assert received == 200
    # The producer may have one chunk in hand beyond the window (it waits for credit after
    # producing); never more, however slow the reader.
    assert max(ahead) <= window + 1
    assert max(ahead) >= 1
    await streams.close()
    await rpc.stop()


async def test_errors_are_typed_before_and_during_the_stream(
    nc: Client, fresh_namespace: str
) -> None:
    probe = Probe()
    rpc, streams, client = await _serve(nc, fresh_namespace, probe)
    with pytest.raises(Invalid) as bad:
        async for _ in stream_call(client, "counter", "count", Count(-1), ctx=CTX):
            pass
    assert "upto" in bad.value.fields
    with pytest.raises(Invalid) as unknown:
        async for _ in stream_call(client, "counter", "count", {"upto": 1, "x": 2}, ctx=CTX):
            pass
    assert "upto" in next(iter(unknown.value.fields.values()))
    with pytest.raises(Forbidden):
        forged = RpcClient(nc, namespace=fresh_namespace, secret="forged")
        async for _ in stream_call(forged, "counter", "count", Count(3), ctx=CTX):
            pass
    seen: list[bytes] = []
    with pytest.raises(NotFound):
        async for chunk in stream_call(client, "counter", "count", Count(10, fail_at=5), ctx=CTX):
            seen.append(chunk)
    assert b"".join(seen) == b"0\n1\n2\n3\n4\n"
    with pytest.raises(Unavailable):
        async for _ in stream_call(client, "nobody", "count", Count(1), ctx=CTX):
            pass
    await streams.close()
    await rpc.stop()


async def test_leaving_the_loop_cancels_the_producer(nc: Client, fresh_namespace: str) -> None:
    probe = Probe()
    rpc, streams, client = await _serve(nc, fresh_namespace, probe)
    received = 0
    async for _ in stream_call(client, "counter", "count", Count(10**9), ctx=CTX, window=4):
        received += 1
        if received == 3:
            break
    await asyncio.wait_for(probe.closed.wait(), 5)
    assert probe.produced < 20
    assert streams.open_streams == 0
    await streams.close()
    await rpc.stop()


async def test_a_caller_that_goes_silent_is_dropped(nc: Client, fresh_namespace: str) -> None:
    probe = Probe()
    rpc, streams, client = await _serve(
        nc, fresh_namespace, probe, client_timeout=0.5, ping_interval=0.2
    )
    # A caller that opens a stream and then never grants credit nor keeps alive (a crashed
    # gateway): the server gives up and closes the producer.
    inbox = nc.new_inbox()
    sub = await nc.subscribe(inbox)
    opened = await client.call(
        "counter",
        "count",
        StreamOpen(inbox=inbox, credit=2, body=msgspec.Raw(msgspec.json.encode(Count(10**9)))),
        ctx=CTX,
        response_type=StreamOpened,
    )
    assert opened.stream_id
    await asyncio.wait_for(probe.closed.wait(), 5)
    assert probe.produced <= 3
    assert streams.open_streams == 0
    await sub.unsubscribe()
    await streams.close()
    await rpc.stop()
