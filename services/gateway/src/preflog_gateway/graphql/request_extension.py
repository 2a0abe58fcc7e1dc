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

from graphql import ASTValidationRule, DocumentNode, GraphQLError, GraphQLSchema, parse
from strawberry.schema.schema import validate_document

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


class GatewayRequest(PublicErrors):
    def __init__(self, rules: tuple[type[ASTValidationRule], ...]) -> None:
        super().__init__()
        self.rules = rules

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
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
            ctx.pre_execution_errors = _validate(
                ctx.schema._schema, ctx.query, ctx.validation_rules
            )
        yield

    def _process_result(self, result: Any) -> None:
        # MaskErrors tests the result against a runtime-checkable Protocol, an isinstance
        # check that walks the protocol's members on every operation.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)
