"""``once_per_key`` against a real event store: a key's first result answers every repeat,
including a repeat that was refused because the first call committed while it ran."""

from __future__ import annotations

import asyncio
import uuid

import msgspec
import pytest

from preflog_contracts.envelope import Metadata
from preflog_contracts.errors import Invalid
from preflog_contracts.events.catalog import DatasetCreated
from preflog_contracts.identity import Identity
from preflog_eventstore import NO_STREAM, EventStore, StreamWrite
from preflog_messaging import CallContext, once_per_key


class Made(msgspec.Struct, frozen=True):
    dataset_id: str


def caller(key: str | None) -> CallContext:
    ident = Identity(user_id="u-1", org_id=str(uuid.uuid4()), org_role="ADMIN")
    return CallContext(identity=ident, idempotency_key=key)


async def test_a_repeat_refused_after_the_first_committed_answers_the_first_result(
    store: EventStore,
) -> None:
    ctx = caller(f"k-{uuid.uuid4().hex}")
    assert ctx.identity is not None
    stream = f"dataset-{uuid.uuid4()}"
    first_done = asyncio.Event()

    async def make(dataset_id: str, wait: bool) -> Made:
        if wait:  # the repeat decides only after the first committed: the stream exists
            await first_done.wait()
        made = Made(dataset_id)
        await store.append(
            StreamWrite(stream, [DatasetCreated(dataset_id=dataset_id, name="d")], NO_STREAM),
            org_id=ctx.identity.org_id,  # type: ignore[union-attr]
            metadata=Metadata(actor_id="u-1", actor_role="ADMIN"),
            idempotency_key=ctx.idempotency_key,
            result=msgspec.to_builtins(made),
        )
        first_done.set()
        return made

    async def refused_repeat() -> Made:
        await first_done.wait()
        raise Invalid("the dataset exists already")  # as a command deciding on fresh state

    first, repeat = await asyncio.gather(
        once_per_key(ctx, store.stored_result, Made, lambda: make("a", False)),
        once_per_key(ctx, store.stored_result, Made, refused_repeat),
    )
    assert first == repeat == Made("a")
    later = await once_per_key(ctx, store.stored_result, Made, lambda: make("b", True))
    assert later == Made("a")
    assert len(await store.read_stream(stream)) == 1


async def test_without_a_key_or_a_stored_result_the_refusal_stands(store: EventStore) -> None:
    async def refused() -> Made:
        raise Invalid("no")

    for key in (None, f"k-{uuid.uuid4().hex}"):
        with pytest.raises(Invalid):
            await once_per_key(caller(key), store.stored_result, Made, refused)
