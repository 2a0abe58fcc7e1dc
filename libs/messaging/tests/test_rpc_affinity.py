"""Calls with an affinity key: one key's calls reach one instance while it lives; when an
instance leaves or dies, only its keys move, and no call is lost (ADR 0029)."""

from __future__ import annotations

import asyncio
import time

import msgspec
import pytest
from nats.aio.client import Client

from preflog_messaging import CallContext, RpcClient, RpcServer
from preflog_messaging.connection import connect
from preflog_messaging.rpc import (
    FIRST_ANSWER_SECONDS,
    MEMBER_TTL_SECONDS,
    NoResponders,
    _Members,
    rendezvous,
)
from preflog_observability.metrics import RPC_AFFINITY_FALLBACKS
from preflog_testing.infra import Infra

CTX = CallContext(correlation_id="c")
KEYS = [f"user-{i}" for i in range(40)]


class Who(msgspec.Struct):
    pass


def server_on(nc: Client, namespace: str) -> RpcServer:
    server = RpcServer(nc, namespace=namespace, service="who", secret="s", heartbeat=0.1)

    async def who(ctx: CallContext, req: Who) -> str:
        return server.instance

    server.register("who", Who, who)
    return server


async def answers(client: RpcClient, keys: list[str]) -> dict[str, str]:
    """Which instance answered each key's call."""
    replies = await asyncio.gather(
        *(client.call("who", "who", Who(), ctx=CTX, response_type=str, affinity=k) for k in keys)
    )
    return dict(zip(keys, replies, strict=True))


async def settled(client: RpcClient, expected: set[str]) -> dict[str, str]:
    """Each key's instance once the client has heard from exactly ``expected``."""
    for _ in range(100):
        got = await answers(client, KEYS)
        if set(got.values()) == expected and got == await answers(client, KEYS):
            return got
        await asyncio.sleep(0.05)
    raise AssertionError(f"instances never settled on {expected}")


async def test_a_key_stays_on_its_instance_and_only_a_gone_instances_keys_move(
    nc: Client, infra: Infra, fresh_namespace: str
) -> None:
    doomed_nc = await connect(infra.nats_url, name="preflog-tests-doomed")
    servers = [server_on(nc, fresh_namespace), server_on(nc, fresh_namespace)]
    doomed = server_on(doomed_nc, fresh_namespace)
    for server in [*servers, doomed]:
        await server.start()
    client = RpcClient(nc, namespace=fresh_namespace, secret="s")
    try:
        everyone = {s.instance for s in [*servers, doomed]}
        placed = await settled(client, everyone)
        # The rendezvous of the key over the live instances, and many calls agree.
        assert placed == {k: rendezvous(k, everyone) for k in KEYS}
        assert await answers(client, KEYS * 3) == placed

        # One leaves (says so): its keys move, the others' stay where they were.
        leaving, staying = servers
        await leaving.stop()
        left = {leaving.instance}
        after_leave = await answers(client, KEYS)  # no call fails meanwhile
        moved = {k for k in KEYS if after_leave[k] != placed[k]}
        assert moved == {k for k in KEYS if placed[k] in left}
        assert left.isdisjoint(after_leave.values())

        # One dies without a word (its connection drops): calls meant for it are answered
        # by the queue group, and its keys settle on the one left.
        fallbacks = client.fallbacks
        await doomed_nc.close()
        after_death = await answers(client, KEYS)
        assert set(after_death.values()) == {staying.instance}
        assert client.fallbacks > fallbacks  # the dead one's keys went to the group
        assert await settled(client, {staying.instance}) == dict.fromkeys(KEYS, staying.instance)
    finally:
        await client.close()
        await servers[1].stop()
        await doomed_nc.close()
        await doomed.stop()


async def test_a_new_caller_asks_who_is_there_instead_of_waiting_for_a_heartbeat(
    nc: Client, fresh_namespace: str
) -> None:
    server = server_on(nc, fresh_namespace)
    server.heartbeat = 3600  # says it is there once, at start, before the client listens
    await server.start()
    client = RpcClient(nc, namespace=fresh_namespace, secret="s")
    counted = RPC_AFFINITY_FALLBACKS.labels("who")._value.get()
    try:
        # The first calls start listening, ask, and wait for the answer (long before the next
        # heartbeat): every one reaches the instance by its own subject, none the group.
        placed = await answers(client, KEYS)
        assert placed == dict.fromkeys(KEYS, server.instance)
        assert client.fallbacks == 0
        assert RPC_AFFINITY_FALLBACKS.labels("who")._value.get() == counted
    finally:
        await client.close()
        await server.stop()


async def test_with_no_instance_there_the_calls_go_to_the_group(
    nc: Client, fresh_namespace: str
) -> None:
    """Nobody answers "who is there": the first call waits out the short window for an
    answer, then it and every later call go to the queue group (which says nobody listens)."""
    client = RpcClient(nc, namespace=fresh_namespace, secret="s")
    try:
        for _ in range(2):
            with pytest.raises(NoResponders):
                await client.call("who", "who", Who(), ctx=CTX, affinity="k")
        members = client._members["who"]
        assert not members.answered.is_set()
        assert members.asked_at + FIRST_ANSWER_SECONDS <= time.monotonic()  # no later call waits
        assert client.fallbacks == 2
    finally:
        await client.close()


def test_instances_not_heard_from_lately_are_forgotten() -> None:
    """Instances that died without a word do not pile up in a long-lived caller."""
    members = _Members()
    members.heard = {"dead": time.monotonic() - MEMBER_TTL_SECONDS - 1, "alive": time.monotonic()}
    assert members.live() == ["alive"]
    assert list(members.heard) == ["alive"]
