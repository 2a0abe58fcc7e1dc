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

from graphql import ASTValidationRule, GraphQLError, parse
from strawberry.schema.schema import validate_document

from preflog_gateway.graphql.errors import PublicErrors

_CACHE_SIZE = 512
_parse = lru_cache(maxsize=_CACHE_SIZE)(parse)
_validate = lru_cache(maxsize=_CACHE_SIZE)(validate_document)


class GatewayRequest(PublicErrors):
    def __init__(self, rules: tuple[type[ASTValidationRule], ...], max_tokens: int) -> None:
        super().__init__()
        self.rules = rules
        self.max_tokens = max_tokens

    def on_operation(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.parse_options["max_tokens"] = self.max_tokens
        ctx.validation_rules = ctx.validation_rules + self.rules
        yield from super().on_operation()

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        try:
            ctx.graphql_document = _parse(ctx.query, **ctx.parse_options)
        except GraphQLError:
            # Not cached: strawberry parses it again and reports it as every other syntax
            # error (INVALID_INPUT); raised from here it would escape that handling.
            pass
        yield

    def on_validate(self) -> Iterator[None]:
        ctx = self.execution_context
        ctx.pre_execution_errors = _validate(
            ctx.schema._schema, ctx.graphql_document, ctx.validation_rules
        )
        yield

    def _process_result(self, result: Any) -> None:
        # MaskErrors tests the result against a runtime-checkable Protocol, an isinstance
        # check that walks the protocol's members on every operation.
        errors = getattr(result, "errors", None)
        if errors:
            result.errors = self._process_errors(errors)
