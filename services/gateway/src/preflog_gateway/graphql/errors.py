"""Every GraphQL error a client sees carries ``extensions.code`` (API.md) and nothing internal.

- A :class:`PreflogError` raised anywhere (here or in a service, re-raised by the RPC client)
  keeps its safe message and code; INVALID_INPUT adds ``extensions.fields``.
- Errors found before execution (syntax, validation, depth, complexity, bad variables) are
  INVALID_INPUT: their messages speak only of the public schema.
- A lost database connection is UNAVAILABLE (retry later).
- Anything else is logged with its trace and answered as INTERNAL "internal error".
"""

from __future__ import annotations

from typing import Any

import msgspec
import strawberry
import structlog
from graphql import GraphQLError
from strawberry.extensions import MaskErrors
from strawberry.types import ExecutionContext

from preflog_contracts.errors import ErrorCode, Internal, PreflogError, Unavailable
from preflog_eventstore import DATABASE_UNAVAILABLE, connection_lost

log = structlog.get_logger(__name__)

# How graphql-core starts the messages of input coercion failures (these carry the scalar's
# exception as ``original_error`` but describe only the client's input).
_COERCION = ("Variable '$", "Argument '", "Expected value", "Expected type", "Field '")


def public_failure(exc: BaseException, event: str, **context: Any) -> PreflogError:
    """What a client is told of ``exc``: a PreflogError as it is, a lost database connection
    as UNAVAILABLE (logged under ``event`` as a warning), anything else as INTERNAL (logged
    under ``event`` with its trace). ``context`` goes into the log line."""
    if isinstance(exc, PreflogError):
        return exc
    if connection_lost(exc):
        log.warning(event, error=repr(exc), **context)
        return Unavailable(DATABASE_UNAVAILABLE)
    log.error(event, error=type(exc).__name__, exc_info=exc, **context)
    return Internal("internal error")


def _root(error: GraphQLError) -> BaseException | None:
    original = error.original_error
    while isinstance(original, GraphQLError) and original.original_error is not None:
        original = original.original_error
    return original


class PublicSchema(strawberry.Schema):
    """strawberry logs every error of every request at ERROR with its trace. A refused
    request (bad input, no permission, a conflict) is the client's business, not an incident:
    those are logged at INFO in one line; the unexpected ones are logged with their trace by
    :func:`public_error` (answered as INTERNAL)."""

    def process_errors(
        self, errors: list[GraphQLError], execution_context: ExecutionContext | None = None
    ) -> None:
        for error in errors:
            original = _root(error)
            if isinstance(original, PreflogError):
                level = log.warning if original.code is ErrorCode.UNAVAILABLE else log.info
                level(
                    "graphql.refused",
                    code=original.code.value,
                    message=original.message,
                    path=error.path,
                )
            elif original is None or isinstance(original, msgspec.ValidationError):
                log.info("graphql.invalid_request", message=error.message, path=error.path)


def public_error(error: GraphQLError) -> GraphQLError:
    """The client-safe version of ``error``."""
    original = _root(error)
    extensions: dict[str, Any]
    if isinstance(original, msgspec.ValidationError):
        message = "invalid input"
        extensions = {"code": ErrorCode.INVALID_INPUT.value, "fields": {"input": str(original)}}
    elif original is None or (error.path is None and error.message.startswith(_COERCION)):
        # Parse, validation and variable coercion errors: about the request, in schema terms.
        message = error.message
        extensions = {"code": ErrorCode.INVALID_INPUT.value}
    else:
        refused = public_failure(original, "graphql.failed", path=error.path)
        message = refused.message
        extensions = {"code": refused.code.value}
        if refused.code is ErrorCode.INVALID_INPUT:
            extensions["fields"] = dict(refused.fields)
    return GraphQLError(
        message,
        nodes=error.nodes,
        source=error.source,
        positions=error.positions,
        path=error.path,
        original_error=None,
        extensions=extensions,
    )


class PublicErrors(MaskErrors):
    """Rewrites every error of every result (including subscription frames)."""

    def __init__(self) -> None:
        super().__init__(should_mask_error=lambda _: True)

    def anonymise_error(self, error: GraphQLError) -> GraphQLError:
        return public_error(error)
