"""graphql-core's executor with a shorter path for plain leaf fields, and without a
reference cycle per request.

Most fields of an answer are leaves with no resolver of their own (``id``, ``rank``,
``content``...): strawberry resolves them by reading an attribute. graphql-core still builds
a resolve info for each, looks for arguments, asks twice whether the value is awaitable and
walks ``complete_value`` through the non-null wrapper to the leaf: about 4 µs a field. Reading
and coercing plain leaves directly took a 62-field task view's execution from 271 to 183 µs
(offline, minimum of 15 runs).

:class:`LeafFastExecution` reads such a field and coerces it in one step. Anything it is not
sure of (a resolver, arguments, middleware, ``None`` on a non-null field, a value the leaf
type refuses, an exception) goes to graphql-core's own path, which reads the field again and
reports it exactly as before: the short path changes no answer and no error, only its cost.

graphql-core's executor keeps helpers for resolvers (``info.async_helpers``) made of its own
bound methods: a cycle, so every request's executor, with its memoized field collections
(about 600 objects for a task view), was left for the cyclic garbage collector. A young
collection of such garbage paused the gateway for 45-70 ms, which was the open-loop p99 of
the task query. Here the helpers reach the executor through a weak reference, so it is freed
when the request ends.

Whole plain subtrees go further. A field that strawberry reads as an attribute, whose
selections below are all fields read as attributes or by a synchronous resolver that asks
for no ``info`` (with constant arguments), with no directive, fragment spread or field
selected twice, is completed by a plan compiled once per field node of a parsed query (the
parse is cached by the query's text, so a repeated query finds its plans): the task query's
label (rankings, crowns, answers) and its data row's messages and responses. Anything a plan
does not take (``None`` on a non-null field, a value a leaf refuses, a value that is no list
where a list is expected, an exception) hands the whole field back to graphql-core's path,
which reads it again and reports it as before. The resolvers below such a field run again
then, so they must have no side effects, which holds for the synchronous ones here (they
render content); the field itself has none, so a root field (a mutation) is never planned.
The bench's task query: execution 326-335 -> 124 µs offline; the gateway's CPU per task
query 1.0-1.4 -> 0.67-0.93 ms in alternating runs of ``bench/request_cost.py``.
"""

from __future__ import annotations

import enum
from collections.abc import Awaitable, Callable, Sequence
from functools import partial
from typing import Any
from weakref import ReferenceType, ref

import structlog
from graphql import (
    BooleanValueNode,
    EnumValueNode,
    FieldNode,
    FloatValueNode,
    GraphQLField,
    GraphQLLeafType,
    GraphQLList,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfoHelpers,
    InlineFragmentNode,
    IntValueNode,
    NullValueNode,
    SelectionSetNode,
    StringValueNode,
    Undefined,
    is_leaf_type,
)
from graphql.execution.values import get_argument_values
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext
from strawberry.types.arguments import convert_arguments
from strawberry.types.field import StrawberryField

log = structlog.get_logger(__name__)

_Plan = tuple[Callable[..., Any], GraphQLLeafType, bool]
"""(strawberry's attribute reader, the leaf type, whether null is allowed)"""

# By type object (hashed by identity): a schema's types live as long as the process.
_PLANS: dict[GraphQLObjectType, dict[str, _Plan | None]] = {}


_CONSTANT_ARGUMENTS = (
    BooleanValueNode,
    EnumValueNode,
    FloatValueNode,
    IntValueNode,
    NullValueNode,
    StringValueNode,
)
_IMMUTABLE = (str, int, float, bool, type(None), enum.Enum)


class _Bail(Exception):
    """A plan met a value it does not take: graphql-core completes the field instead."""


Reader = Callable[[Any], Any]
Complete = Callable[[Any], Any]
"""A compiled completion: the field's value (as read) to its answer, or :class:`_Bail`."""

# By the field node's identity. An entry holds its node weakly and leaves with it: a query's
# nodes live as long as its parse in the parse cache, and holding them here would keep every
# query ever planned (with its token list, up to MAX_TOKENS) alive. The bound is a backstop.
_SUBTREES: dict[
    tuple[int, int], tuple[ReferenceType[FieldNode], tuple[Reader, Complete] | None]
] = {}
_SUBTREES_MAX = 8192


def _alive(this: ReferenceType[LeafFastExecution]) -> LeafFastExecution:
    executor = this()
    if executor is None:  # a resolver outlived its request
        raise RuntimeError("the operation's execution has ended")
    return executor


def _basic(field: GraphQLField) -> bool:
    """strawberry reads the field as an attribute, and it takes no arguments. strawberry marks
    the reader it gives a field with no resolver, no extension and no permission (its "basic"
    fields); every other resolver may need the resolve info."""
    return not field.args and bool(getattr(field.resolve, "_is_default", False))


def _plan(parent_type: GraphQLObjectType, name: str) -> _Plan | None:
    field = parent_type.fields.get(name)
    if field is None or not _basic(field):
        return None
    resolve = field.resolve
    nullable = not isinstance(field.type, GraphQLNonNull)
    leaf = field.type if nullable else field.type.of_type
    if not is_leaf_type(leaf):
        return None
    return resolve, leaf, nullable


def _plain_details(details: Any) -> bool:
    """A field that no @defer and no fragment variable touches."""
    return (
        getattr(details, "defer_usage", None) is None
        and getattr(details, "fragment_variable_values", None) is None
    )


def _reader(schema: Any, field: GraphQLField, node: FieldNode) -> Reader | None:
    """How a plan reads ``field`` off its parent: strawberry's attribute reader, or a call of
    a synchronous resolver that takes no ``info`` with the node's constant arguments."""
    resolve = field.resolve
    if resolve is not None and _basic(field):
        return lambda source: resolve(source, None)
    definition = field.extensions.get("strawberry-definition")
    if schema is None:  # not a strawberry schema: no resolver is called outside graphql-core
        return None
    resolver = getattr(definition, "base_resolver", None)
    if (
        not isinstance(definition, StrawberryField)
        or resolver is None
        or definition.is_async
        or definition.extensions
        or resolver.info_parameter is not None
        or resolver.parent_parameter is not None
        or resolver.root_parameter is not None
        or any(not isinstance(a.value, _CONSTANT_ARGUMENTS) for a in node.arguments or ())
    ):
        return None
    try:
        raw = get_argument_values(field, node, None)
        kwargs = convert_arguments(
            raw,
            definition.arguments,
            scalar_registry=schema.schema_converter.scalar_registry,
            config=schema.config,
        )
    except Exception:  # an argument graphql-core refuses: its path reports it
        return None
    if not all(isinstance(v, _IMMUTABLE) for v in kwargs.values()):
        return None
    func = resolver.wrapped_func
    if resolver.self_parameter is not None:
        return lambda source: func(source, **kwargs)
    return lambda _source: func(**kwargs)


def _completion(
    schema: Any, return_type: Any, selection_set: SelectionSetNode | None
) -> Complete | None:
    """The compiled completion of a value of ``return_type`` (null check, list, leaf
    coercion, or an object's selections), or None when a plan cannot take it."""
    if isinstance(return_type, GraphQLNonNull):
        inner = _completion(schema, return_type.of_type, selection_set)
        if inner is None:
            return None

        def non_null(value: Any) -> Any:
            if value is None:
                raise _Bail
            return inner(value)

        return non_null
    if isinstance(return_type, GraphQLList):
        item = _completion(schema, return_type.of_type, selection_set)
        if item is None:
            return None

        def a_list(value: Any) -> Any:
            if value is None:
                return None
            if not isinstance(value, list | tuple):
                raise _Bail
            return [item(v) for v in value]

        return a_list
    if is_leaf_type(return_type):
        coerce = return_type.coerce_output_value

        def leaf(value: Any) -> Any:
            if value is None:
                return None
            coerced = coerce(value)
            if coerced is None or coerced is Undefined:
                raise _Bail
            return coerced

        return leaf
    if isinstance(return_type, GraphQLObjectType) and return_type.is_type_of is None:
        steps = _object_steps(schema, return_type, selection_set)
        if steps is None:
            return None

        def an_object(value: Any) -> Any:
            if value is None:
                return None
            return {key: complete(read(value)) for key, read, complete in steps}

        return an_object
    return None


def _object_steps(
    schema: Any, object_type: GraphQLObjectType, selection_set: SelectionSetNode | None
) -> list[tuple[str, Reader, Complete]] | None:
    if selection_set is None:
        return None
    steps: list[tuple[str, Reader, Complete]] = []
    keys: set[str] = set()
    for node in _fields_of(object_type, selection_set):
        if node is None:
            return None
        key = node.alias.value if node.alias else node.name.value
        if key in keys:  # merged selections: graphql-core's collection rules
            return None
        keys.add(key)
        if node.name.value == "__typename":
            name = object_type.name
            steps.append((key, lambda _source, name=name: name, lambda v: v))  # type: ignore[misc]
            continue
        field = object_type.fields.get(node.name.value)
        if field is None:
            return None
        read = _reader(schema, field, node)
        complete = _completion(schema, field.type, node.selection_set)
        if read is None or complete is None:
            return None
        steps.append((key, read, complete))
    return steps


def _fields_of(
    object_type: GraphQLObjectType, selection_set: SelectionSetNode
) -> list[FieldNode | None]:
    """The field nodes selected on ``object_type``, inline fragments flattened; None for
    anything a plan does not take (a directive, a fragment spread, another type's fragment)."""
    found: list[FieldNode | None] = []
    for selection in selection_set.selections:
        if selection.directives:
            found.append(None)
        elif isinstance(selection, FieldNode):
            found.append(selection)
        elif isinstance(selection, InlineFragmentNode) and (
            selection.type_condition is None
            or selection.type_condition.name.value == object_type.name
        ):
            found.extend(_fields_of(object_type, selection.selection_set))
        else:
            found.append(None)
    return found


def _planned(schema: Any, field: GraphQLField, node: FieldNode) -> tuple[Reader, Complete] | None:
    try:
        read = _reader(schema, field, node)
        complete = _completion(schema, field.type, node.selection_set)
    except Exception:  # a shape the compiler did not foresee: graphql-core's path takes it
        log.warning("graphql.plan_failed", field=node.name.value, exc_info=True)
        return None
    return None if read is None or complete is None else (read, complete)


def _forget(key: tuple[int, int], _gone: object) -> None:
    """A planned node is gone (its parse left the cache): its entry goes too. The entry is
    still the node's own: an id is reused only after its object is freed, which calls this."""
    _SUBTREES.pop(key, None)


def _subtree(
    schema: Any, parent_type: GraphQLObjectType, node: FieldNode
) -> tuple[Reader, Complete] | None:
    key = (id(parent_type), id(node))
    entry = _SUBTREES.get(key)
    if entry is not None and entry[0]() is node:
        return entry[1]
    plan = None
    field = parent_type.fields.get(node.name.value)
    # The field itself only when read as it is: its resolver, if it had one, would run again
    # when the plan hands back (a root mutation twice); resolvers below it are pure renderers.
    if (
        field is not None
        and _basic(field)
        and node.selection_set is not None
        and not node.directives
    ):
        plan = _planned(schema, field, node)
    if len(_SUBTREES) >= _SUBTREES_MAX:
        _SUBTREES.clear()
    _SUBTREES[key] = (ref(node, partial(_forget, key)), plan)
    return plan


class LeafFastExecution(StrawberryGraphQLCoreExecutionContext):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        this = ref(self)

        def gather(values: Sequence[Awaitable[Any]]) -> Awaitable[list[Any]]:
            return _alive(this).gather_async_work(values)

        def track(values: Sequence[Awaitable[Any]]) -> None:
            _alive(this).track_async_work(values)

        self.async_helpers = GraphQLResolveInfoHelpers(gather=gather, track=track)

    def execute_field(
        self,
        parent_type: GraphQLObjectType,
        source: Any,
        field_details_list: Any,
        path: Any,
        position_context: Any,
    ) -> Any:
        node = field_details_list[0].node
        middleware = self.middleware_manager
        if not node.arguments and (middleware is None or not middleware.middlewares):
            plans = _PLANS.get(parent_type)
            if plans is None:
                plans = _PLANS[parent_type] = {}
            name = node.name.value
            try:
                plan = plans[name]
            except KeyError:
                plan = plans[name] = _plan(parent_type, name)
            if plan is not None:
                resolve, leaf, nullable = plan
                try:
                    value = resolve(source, None)
                    if value is None:
                        if nullable:
                            return None
                    else:
                        coerced = leaf.coerce_output_value(value)
                        if coerced is not None and coerced is not Undefined:
                            return coerced
                except Exception:  # reported by the full path below
                    pass
            elif len(field_details_list) == 1 and _plain_details(field_details_list[0]):
                subtree = _subtree(
                    getattr(self.schema, "_strawberry_schema", None), parent_type, node
                )
                if subtree is not None:
                    try:
                        return subtree[1](subtree[0](source))
                    except Exception:  # _Bail, or an exception the full path reports
                        pass
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
