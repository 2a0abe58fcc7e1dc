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


# --- whole plain subtrees -------------------------------------------------------------------


@strawberry.type
class Leaf:
    id: str
    rank: int
    colour: Colour | None

    @strawberry.field
    def label(self, prefix: str = "#", loud: bool = False) -> str:
        text = f"{prefix}{self.id}"
        return text.upper() if loud else text

    @strawberry.field
    def fails(self) -> str | None:
        raise ValueError("no label today")


@strawberry.type
class Branch:
    name: str
    leaves: list[Leaf]
    best: Leaf | None
    tags: list[str]
    sizes: list[int] | None


def _branch(
    name: str, *leaves: Any, best: Any = None, tags: Any = ("a",), sizes: Any = None
) -> Any:
    return Branch(name=name, leaves=list(leaves), best=best, tags=list(tags), sizes=sizes)


GOOD = [
    _branch("one", Leaf(id="a", rank=1, colour=Colour.RED), Leaf(id="b", rank=2, colour=None)),
    _branch("two", best=Leaf(id="c", rank=3, colour=Colour.BLUE), sizes=[1, 2]),
]
# Each wrong deep inside in a way a plan must hand back to graphql-core: null on a non-null
# leaf, a list field holding something else, an int field holding text, an enum field holding
# something else, null in a list of non-null items, a non-null object that is null, an
# attribute that raises.
BAD = [
    _branch("null id", Broken(id=None, rank=1, colour=None)),
    Broken(name="no list", leaves="not a list", best=None, tags=[], sizes=None),
    _branch("text rank", Broken(id="x", rank="seven", colour=None)),
    _branch("green", Broken(id="x", rank=1, colour="green")),
    _branch("null tag", tags=["ok", None]),
    Broken(name="no leaves", leaves=None, best=None, tags=[], sizes=None),
    _branch("null id in a nullable object", best=Broken(id=None, rank=1, colour=None)),
]


class _Raises:
    @property
    def id(self) -> str:
        raise RuntimeError("id unavailable")

    rank = 1
    colour = None


BAD.append(_branch("raising attribute", _Raises()))


@strawberry.type
class TreeQuery:
    @strawberry.field
    def good(self) -> list[Branch]:
        return GOOD

    @strawberry.field
    def bad(self, case: int) -> Branch | None:
        return BAD[case]  # type: ignore[no-any-return]


TREE_QUERIES = [
    # plain subtrees: aliases, a resolver with constant and default arguments, __typename,
    # inline fragments on the type itself
    """{ good { name __typename tags sizes
         leaves { id rank colour label shout: label(loud: true) hashed: label(prefix: "~")
                  ... on Leaf { again: id } ... { rank2: rank } }
         best { id } } }""",
    # what a plan leaves to graphql-core: a resolver that raises, a variable argument,
    # directives, fragment spreads, a field selected twice
    """{ good { leaves { id fails } } }""",
    """query($p: String!, $skip: Boolean!) { good { leaves { id label(prefix: $p)
         rank @skip(if: $skip) } } }""",
    """{ good { ...B } } fragment B on Branch { name leaves { id } }""",
    """{ good { leaves { id } leaves { rank } } }""",
] + [
    f"{{ bad(case: {case}) {{ name tags sizes leaves {{ id rank colour label }} best {{ id }} }} }}"
    for case in range(len(BAD))
]


async def _run_tree(cls: Any, query: str) -> Any:
    schema = strawberry.Schema(query=TreeQuery, execution_context_class=cls)
    return await schema.execute(query, variable_values={"p": "$", "skip": True})


@pytest.mark.parametrize("query", TREE_QUERIES)
async def test_plain_subtrees_answer_as_graphql_core(query: str) -> None:
    plain = await _run_tree(None, query)
    fast = await _run_tree(LeafFastExecution, query)
    assert _shape(fast) == _shape(plain)
    assert plain.data is not None
    if "bad" in query:
        assert plain.errors, "each bad case must make an error to compare"


async def test_plain_subtrees_take_a_plan(monkeypatch: pytest.MonkeyPatch) -> None:
    planned: dict[str, set[bool]] = {}
    real = execution._subtree

    def recording(schema: Any, parent_type: Any, node: Any) -> Any:
        plan = real(schema, parent_type, node)
        planned.setdefault(node.name.value, set()).add(plan is not None)
        return plan

    monkeypatch.setattr(execution, "_SUBTREES", {})
    monkeypatch.setattr(execution, "_subtree", recording)
    for query in TREE_QUERIES[:5]:
        await _run_tree(LeafFastExecution, query)
    # The first query's subtrees (``leaves``, ``best``) take one; the others' keep
    # graphql-core's path: a raising resolver only shows when run, so its plan is made and
    # handed back; a variable argument, a directive, a fragment spread or a field selected
    # twice makes none. A field with a resolver of its own is never planned at the top (a
    # root field, say: a mutation must not run twice), only below a field read as it is.
    assert planned["leaves"] == {True, False}
    assert planned["best"] == {True}
    assert planned["good"] == {False}


async def test_a_plan_leaves_with_its_parsed_query(monkeypatch: pytest.MonkeyPatch) -> None:
    # Plans must not keep every query ever planned alive (each with its token list).
    from graphql import execute, parse

    monkeypatch.setattr(execution, "_SUBTREES", {})
    schema = strawberry.Schema(query=TreeQuery, execution_context_class=LeafFastExecution)
    document = parse("{ good { name leaves { id rank } best { id } } }")
    result: Any = execute(schema._schema, document, executor_class=LeafFastExecution)
    assert not result.errors
    assert len(execution._SUBTREES) == 3  # good (none: a resolver), leaves, best
    del document, result
    gc.collect()
    assert execution._SUBTREES == {}


async def test_a_plan_is_made_once_per_parsed_query(monkeypatch: pytest.MonkeyPatch) -> None:
    from graphql import execute

    from preflog_gateway.graphql.request_extension import cached_parse

    monkeypatch.setattr(execution, "_SUBTREES", {})
    built: list[object] = []
    real = execution._completion

    def counting(*args: Any) -> Any:
        built.append(args[1])
        return real(*args)

    monkeypatch.setattr(execution, "_completion", counting)
    schema = strawberry.Schema(query=TreeQuery, execution_context_class=LeafFastExecution)
    document = cached_parse("{ good { name leaves { id rank } } }")
    counts = []
    for _ in range(3):
        result: Any = execute(schema._schema, document, executor_class=LeafFastExecution)
        assert not result.errors
        counts.append(len(built))
    assert counts[0] > 0 and counts == [counts[0]] * 3
