"""The short path for plain leaf fields answers exactly as graphql-core's own path: the same
data and the same errors, for values it takes and values it hands back."""

from __future__ import annotations

import enum
import gc
from typing import Any

import pytest
import strawberry

from preflog_gateway.graphql import execution
from preflog_gateway.graphql.context import GatewayContext
from preflog_gateway.graphql.execution import LeafFastExecution
from preflog_gateway.graphql.loaders import Loaders


@strawberry.enum
class Colour(enum.Enum):
    RED = "red"
    BLUE = "blue"


@strawberry.type
class Item:
    id: str
    rank: int
    score: float | None
    colour: Colour
    note: str | None
    flag: bool

    @strawberry.field
    def shout(self, loud: bool = True) -> str:
        return self.id.upper() if loud else self.id


class Broken:
    """An object whose attributes a schema type reads: each one a way a leaf can go wrong."""

    def __init__(self, **values: Any) -> None:
        self.__dict__.update(values)

    @property
    def flag(self) -> bool:
        raise RuntimeError("flag unavailable")


ITEMS: list[Any] = [
    Item(id="a", rank=1, score=0.5, colour=Colour.RED, note=None, flag=True),
    Item(id="b", rank=2, score=None, colour=Colour.BLUE, note="n", flag=False),
    # wrong at run time in every way a leaf can be: null on non-null fields, an int field
    # holding text, an enum field holding something else, an attribute that raises
    Broken(id=None, rank="x", score="nan?", colour="green", note=3),
    Broken(id="d", rank=2**40, score=1, colour=Colour.RED, note="ok"),
]


@strawberry.type
class Query:
    @strawberry.field
    def items(self) -> list[Item | None]:
        return ITEMS

    @strawberry.field
    async def later(self) -> list[Item]:
        return ITEMS[:2]


QUERY = """{ items { id rank score colour note flag shout quiet: shout(loud: false) __typename }
  later { id rank colour } }"""


async def _run(cls: Any) -> Any:
    schema = strawberry.Schema(query=Query, execution_context_class=cls)
    return await schema.execute(QUERY)


def _shape(result: Any) -> tuple[Any, list[tuple[str, Any]]]:
    errors = sorted((e.message, e.path) for e in result.errors or [])
    return result.data, errors


async def test_same_data_and_errors_as_graphql_core() -> None:
    plain = await _run(None)
    fast = await _run(LeafFastExecution)
    assert plain.errors, "the query must provoke leaf errors to compare them"
    assert _shape(fast) == _shape(plain)


async def test_plain_leaves_take_the_short_path(monkeypatch: pytest.MonkeyPatch) -> None:
    taken: list[str] = []
    real = execution._plan

    def counting(parent_type: Any, name: str) -> Any:
        plan = real(parent_type, name)
        if plan is not None:
            taken.append(f"{parent_type.name}.{name}")
        return plan

    monkeypatch.setattr(execution, "_PLANS", {})
    monkeypatch.setattr(execution, "_plan", counting)
    await _run(LeafFastExecution)
    # fields with a resolver or arguments (shout), and __typename, keep graphql-core's path
    assert sorted(taken) == sorted(
        f"Item.{f}" for f in ("id", "rank", "score", "colour", "note", "flag")
    )


def _cyclic_garbage_of(kinds: tuple[type, ...], run: Any) -> list[Any]:
    """Objects of ``kinds`` that only the cyclic collector would have freed after ``run``."""
    gc.collect()
    gc.set_debug(gc.DEBUG_SAVEALL)
    try:
        run()
        gc.collect()
        return [o for o in gc.garbage if isinstance(o, kinds)]
    finally:
        gc.set_debug(0)
        gc.garbage.clear()


async def test_an_operation_leaves_no_reference_cycle_behind() -> None:
    # Each request's executor (with its memoized field collections) used to be a cycle;
    # the collector's passes over that garbage paused the gateway for 45-70 ms.
    from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext as Default

    left: dict[str, int] = {}
    for cls in (Default, LeafFastExecution):
        schema = strawberry.Schema(query=Query, execution_context_class=cls)
        await schema.execute("{ later { id rank } }")  # the schema's own first-use caches
        gc.collect()
        gc.set_debug(gc.DEBUG_SAVEALL)
        try:
            for _ in range(3):
                assert not (await schema.execute("{ later { id rank } }")).errors
            gc.collect()
            left[cls.__name__] = sum(isinstance(o, Default) for o in gc.garbage)
        finally:
            gc.set_debug(0)
            gc.garbage.clear()
    # strawberry's own executor is a cycle (else this test would prove nothing)
    assert left == {Default.__name__: 3, LeafFastExecution.__name__: 0}


def test_a_context_and_its_loaders_are_no_reference_cycle() -> None:
    def use() -> None:
        ctx = GatewayContext(gateway=None)  # type: ignore[arg-type]
        assert ctx.loaders.tasks is ctx.loaders.tasks
        assert ctx.loaders.users is not None

    assert _cyclic_garbage_of((GatewayContext, Loaders), use) == []
