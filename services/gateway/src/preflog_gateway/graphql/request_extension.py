"""One schema extension for everything the gateway does around each operation.

- a cap on the query's tokens and the gateway's validation rules (depth, complexity);
- the parsed document and its validation result from bounded caches shared by all requests
  (keyed by the query text, and by the document and rules);
- every error rewritten for the client (:func:`preflog_gateway.graphql.errors.public_error`).

One extension instead of five: strawberry enters each extension's hooks as context managers
on every operation, which cost more than the work the five did once parsing and validation
were cached.
"""

from __future__ import annotations

from collections.abc import Iterator
from functools import lru_cache
from typing import Any

from graphql import (
    ASTValidationRule,
    DocumentNode,
    FieldNode,
    FragmentDefinitionNode,
    FragmentSpreadNode,
    GraphQLError,
    GraphQLSchema,
    InlineFragmentNode,
    ListTypeNode,
    NonNullTypeNode,
    OperationType,
    StringValueNode,
    TypeNode,
    get_operation_ast,
    parse,
)
from strawberry.schema.schema import validate_document

from preflog_contracts.errors import Invalid, RateLimited
from preflog_contracts.text import NUL, NUL_REFUSED, has_nul, nul_path
from preflog_gateway.graphql.errors import PublicErrors

_CACHE_SIZE = 512
MAX_TOKENS = 20_000
"""The most tokens a query may have (graphql-core stops parsing beyond it)."""
_parse = lru_cache(maxsize=_CACHE_SIZE)(parse)


def cached_parse(query: str) -> DocumentNode:
    """``query`` parsed with the token cap, from the cache every operation parses through."""
    return _parse(query, max_tokens=MAX_TOKENS)


@lru_cache(maxsize=_CACHE_SIZE)
def _validate(
    schema: GraphQLSchema, query: str, rules: tuple[type[ASTValidationRule], ...]
) -> list[GraphQLError]:
    """The validation errors of the cached parse of ``query``. Keyed by the text, not the
    document: graphql-core's nodes are dataclasses whose hash walks the whole tree, 19-28 µs
    for the bench's queries on every request (Python keeps a string's hash)."""
    return validate_document(schema, cached_parse(query), rules)


class NoNulInStrings(ASTValidationRule):
    """A string literal holding U+0000 (written ``\\u0000`` in the query) is refused: no
    service could store it."""

    def enter_string_value(self, node: StringValueNode, *_args: Any) -> None:
        if NUL in node.value:
            self.report_error(GraphQLError(f"a string {NUL_REFUSED}", node))


def _named(type_node: TypeNode) -> str:
    while isinstance(type_node, NonNullTypeNode | ListTypeNode):
        type_node = type_node.type
    return str(type_node.name.value)  # type: ignore[attr-defined]


@lru_cache(maxsize=_CACHE_SIZE)
def _json_variables(query: str, operation_name: str | None) -> frozenset[str]:
    """The operation's variables declared ``JSON`` (or lists of it). Their text is checked
    by the service that takes it: an import refuses its bad rows one by one and keeps the
    others, a request refused here whole would lose them."""
    operation = get_operation_ast(cached_parse(query), operation_name)
    if operation is None:
        return frozenset()
    return frozenset(
        d.variable.name.value
        for d in operation.variable_definitions or ()
        if _named(d.type) == "JSON"
    )


def nul_in_variables(
    query: str, operation_name: str | None, variables: dict[str, Any]
) -> GraphQLError | None:
    """The error for the first variable (not a JSON one) whose text holds U+0000."""
    for name, value in variables.items():
        if has_nul(value) and name not in _json_variables(query, operation_name):
            where = nul_path(value, name)
            refused = Invalid(
                f"variable ${name} holds the NUL character", {str(where): NUL_REFUSED}
            )
            return GraphQLError(refused.message, original_error=refused)
    return None


@lru_cache(maxsize=_CACHE_SIZE)
def operation_cost(query: str, operation_name: str | None) -> int:
    """Requests' worth of the operation against the token's rate: one, or for a mutation one
    per mutation field at its root (a thousand aliased mutations in one request are a
    thousand mutations)."""
    document = cached_parse(query)
    operation = get_operation_ast(document, operation_name)
    if operation is None or operation.operation is not OperationType.MUTATION:
        return 1
    fragments = {
        d.name.value: d for d in document.definitions if isinstance(d, FragmentDefinitionNode)
    }
    count, pending = 0, list(operation.selection_set.selections)
    seen: set[str] = set()
    while pending:
        node = pending.pop()
        if isinstance(node, FieldNode):
            count += 1
        elif isinstance(node, InlineFragmentNode):
            pending.extend(node.selection_set.selections)
        elif isinstance(node, FragmentSpreadNode) and node.name.value not in seen:
            seen.add(node.name.value)
            found = fragments.get(node.name.value)
            if found is not None:
                pending.extend(found.selection_set.selections)
    return max(count, 1)


def charge(ctx: Any, query: str, operation_name: str | None) -> GraphQLError | None:
    """Count the operation against its token's rate, less what admission counted already;
    the error when that is beyond the rate."""
    gateway_ctx = ctx.get("ctx") if isinstance(ctx, dict) else None
    if gateway_ctx is None or gateway_ctx.auth is None:
        return None
    limiter = gateway_ctx.gateway.rate_limiter
    # An operation dearer than a full bucket waits for a full one (else it never passes).
    owed = min(operation_cost(query, operation_name), int(limiter.burst)) - gateway_ctx.prepaid
    gateway_ctx.prepaid = 0
    if owed > 0:
        try:
            limiter.take(gateway_ctx.auth.token_id, cost=owed)
        except RateLimited as refused:
            return GraphQLError(refused.message, original_error=refused)
    return None


class GatewayRequest(PublicErrors):
    def __init__(self, rules: tuple[type[ASTValidationRule], ...]) -> None:
        super().__init__()
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        shared = ctx.context.get("ctx") if isinstance(ctx.context, dict) else None
        if shared is not None and shared.connection:
            # One operation of a WebSocket connection: a context of its own (fresh loaders).
            ctx.context = {**ctx.context, "ctx": shared.for_operation()}
        # strawberry parses with these options when the cached parse below raised
        ctx.parse_options["max_tokens"] = MAX_TOKENS
        ctx.validation_rules = ctx.validation_rules + self.rules
        yield from super().on_operation()

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        try:
            if ctx.query is not None:
                ctx.graphql_document = cached_parse(ctx.query)
        except GraphQLError:
            # Not cached: strawberry parses it again and reports it as every other syntax
            # error (INVALID_INPUT); raised from here it would escape that handling.
            pass
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        # Validation is reached only with the cached parse of the text (when that raised,
        # strawberry's own parse raised too and the operation ended there). Errors left
        # unset, strawberry validates the document itself.
        if ctx.query is not None:
            errors = _validate(ctx.schema._schema, ctx.query, ctx.validation_rules)
            if not errors and ctx.variables:
                found = nul_in_variables(ctx.query, ctx.operation_name, ctx.variables)
                errors = [found] if found is not None else errors
            if not errors:
                limited = charge(ctx.context, ctx.query, ctx.operation_name)
                errors = [limited] if limited is not None else errors
            ctx.pre_execution_errors = errors
        yield

    def _process_result(self, result: Any) -> None:
        # MaskErrors tests the result against a runtime-checkable Protocol, an isinstance
        # check that walks the protocol's members on every operation.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)
