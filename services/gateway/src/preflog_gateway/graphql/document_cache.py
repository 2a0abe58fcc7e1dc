"""Parsing a query text once: the parsed document is cached per text (bounded, shared)."""

from __future__ import annotations

from collections.abc import Iterator

from graphql import GraphQLError
from strawberry.extensions import ParserCache


class CachedParse(ParserCache):
    """strawberry's ParserCache, except that a text that does not parse is left to
    strawberry's own parser, which reports it as every other syntax error (INVALID_INPUT);
    raised from the extension it would escape that handling."""

    def on_parse(self) -> Iterator[None]:
        ctx = self.execution_context
        try:
            ctx.graphql_document = self.cached_parse_document(ctx.query, **ctx.parse_options)
        except GraphQLError:
            pass  # not cached: strawberry parses it again and reports the error
        yield
