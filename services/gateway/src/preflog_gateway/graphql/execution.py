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
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import Any
from weakref import ReferenceType, ref

from graphql import (
    GraphQLLeafType,
    GraphQLNonNull,
    GraphQLObjectType,
    GraphQLResolveInfoHelpers,
    Undefined,
    is_leaf_type,
)
from strawberry.schema.schema import StrawberryGraphQLCoreExecutionContext

_Plan = tuple[Callable[..., Any], GraphQLLeafType, bool]
"""(strawberry's attribute reader, the leaf type, whether null is allowed)"""

# By type object (hashed by identity): a schema's types live as long as the process.
_PLANS: dict[GraphQLObjectType, dict[str, _Plan | None]] = {}


def _alive(this: ReferenceType[LeafFastExecution]) -> LeafFastExecution:
    executor = this()
    if executor is None:  # a resolver outlived its request
        raise RuntimeError("the operation's execution has ended")
    return executor


def _plan(parent_type: GraphQLObjectType, name: str) -> _Plan | None:
    field = parent_type.fields.get(name)
    if field is None or field.args:
        return None
    resolve = field.resolve
    # strawberry marks the reader it gives a field with no resolver, no extension and no
    # permission (its "basic" fields); every other resolver may need the resolve info.
    if resolve is None or not getattr(resolve, "_is_default", False):
        return None
    nullable = not isinstance(field.type, GraphQLNonNull)
    leaf = field.type if nullable else field.type.of_type
    if not is_leaf_type(leaf):
        return None
    return resolve, leaf, nullable


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
        return super().execute_field(
            parent_type, source, field_details_list, path, position_context
        )
