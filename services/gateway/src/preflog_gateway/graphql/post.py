"""``POST /graphql`` with a JSON body — every query and mutation a frontend sends — answered
in front of litestar.

Through litestar's router, its dependency injection and strawberry's HTTP view, a request
cost the gateway about 0.4 ms of CPU before and after executing the operation, most of a
mutation's whole cost in the gateway. :class:`GraphQLPost` admits the request as the view
does (body cap, token, rate limit), executes it with the same schema and context and answers
as the view does (strawberry's ``process_result``, status 200, ``application/json``).

Anything else, and any request it is not sure of, goes to the litestar app unchanged, with
its body replayed if it was read: another path or method, another content type, an
``Accept`` that asks for a stream, a body without a length or above the cap, JSON that is
not one request object, a subscription, a document with several operations and no matching
``operationName``. Those are answered exactly as before, by the same code.
"""

from __future__ import annotations

from typing import Any

import msgspec
import structlog
from graphql import GraphQLError, OperationType, get_operation_ast
from litestar.enums import ScopeType
from litestar.types import (
    ASGIApp,
    HTTPRequestEvent,
    HTTPResponseBodyEvent,
    HTTPResponseStartEvent,
    Receive,
    ReceiveMessage,
    Scope,
    Send,
)
from strawberry import Schema
from strawberry.http import process_result
from strawberry.types.graphql import OperationType as StrawberryOperationType

from preflog_contracts.errors import HTTP_STATUS, Invalid, PreflogError
from preflog_gateway.graphql.context import Gateway, GatewayContext
from preflog_gateway.graphql.errors import public_failure
from preflog_gateway.graphql.live import LiveEvents
from preflog_gateway.graphql.request_extension import cached_parse

log = structlog.get_logger(__name__)

_ALLOWED = frozenset({StrawberryOperationType.QUERY, StrawberryOperationType.MUTATION})
_JSON_HEADERS = [(b"content-type", b"application/json")]
_encoder = msgspec.json.Encoder()
_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


class _Request(msgspec.Struct, forbid_unknown_fields=True):
    query: str
    variables: dict[str, Any] | None = None
    operationName: str | None = None  # the wire name


def graphql_error(exc: PreflogError) -> dict[str, Any]:
    """A refused GraphQL request's body (no data, one error with its code)."""
    extensions: dict[str, Any] = {"code": exc.code.value}
    if exc.fields:
        extensions["fields"] = exc.fields
    return {"data": None, "errors": [{"message": exc.message, "extensions": extensions}]}


def error_body(exc: PreflogError) -> bytes:
    """:func:`graphql_error`, encoded."""
    return msgspec.json.encode(graphql_error(exc))


async def admit(gateway: Gateway, ctx: GatewayContext, authorization: str | None) -> None:
    """Authenticate the caller into ``ctx`` and count the request against its token's rate;
    raises UNAUTHENTICATED or RATE_LIMITED."""
    ctx.auth = await gateway.authenticator.authenticate(authorization)
    gateway.rate_limiter.take(ctx.auth.token_id)
    ctx.prepaid = 1


class GraphQLPost:
    def __init__(
        self, app: ASGIApp, schema: Schema, gateway: Gateway, live: LiveEvents, body_cap: int
    ) -> None:
        self.app = app
        self.schema = schema
        self.gateway = gateway
        self.live = live
        self.body_cap = body_cap

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == ScopeType.HTTP and _twice(scope["headers"], b"authorization"):
            # Which one counts would depend on the code reading it: refuse the request.
            refused = Invalid("more than one Authorization header", {"authorization": "once"})
            if scope["path"].startswith("/graphql"):
                await _refuse(send, refused)
            else:
                await _answer(send, 400, msgspec.json.encode(rest_error(refused)))
            return
        if (
            scope["type"] != ScopeType.HTTP
            or scope["path"] != "/graphql"
            or scope["method"] != "POST"
        ):
            await self.app(scope, receive, send)
            return
        headers: dict[bytes, bytes] = dict(scope["headers"])
        length = headers.get(b"content-length")
        accept = headers.get(b"accept", b"")
        if (
            not headers.get(b"content-type", b"").startswith(b"application/json")
            or b"multipart/" in accept
            or b"event-stream" in accept
            or length is None
            or not length.isdigit()
            or int(length) > self.body_cap
        ):
            await self.app(scope, receive, send)
            return
        body = await _read_body(receive)
        try:
            request = _request_of(body)
        # RecursionError: nested too deep; UnicodeDecodeError: a string that is not UTF-8.
        except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
            await _answer(
                send,
                400,
                error_body(Invalid("the request body is not valid JSON", {"body": str(exc)})),
            )
            return
        if request is None:
            await self.app(scope, _replay(body, receive), send)
            return
        try:
            document = cached_parse(request.query)
        except GraphQLError:
            document = None  # executed below: answered with the syntax error, as the view does
        if document is not None:
            operation = get_operation_ast(document, request.operationName)
            if operation is None or operation.operation not in (
                OperationType.QUERY,
                OperationType.MUTATION,
            ):
                await self.app(scope, _replay(body, receive), send)
                return
        ctx = GatewayContext(self.gateway, user_agent=_text(headers.get(b"user-agent")))
        try:
            await admit(self.gateway, ctx, _text(headers.get(b"authorization")))
        except Exception as exc:
            await _refuse(send, public_failure(exc, "graphql.admit_failed"))
            return
        try:
            result = await self.schema.execute(
                request.query,
                variable_values=request.variables,
                context_value={"ctx": ctx, "live": self.live},
                operation_name=request.operationName,
                allowed_operation_types=_ALLOWED,
            )
            answer = _encoder.encode(process_result(result))
        except Exception as exc:
            await _refuse(send, public_failure(exc, "graphql.post_failed"))
            return
        await _answer(send, 200, answer)


def _request_of(body: bytes) -> _Request | None:
    """The request, or None when it is JSON of another shape (the view answers those);
    raises on a body that is not JSON."""
    try:
        return msgspec.json.decode(body, type=_Request)
    except msgspec.ValidationError:
        _decoder.decode(body)  # raises if it is not JSON at all
        return None


def _twice(headers: Any, name: bytes) -> bool:
    return sum(1 for key, _ in headers if key.lower() == name) > 1


def rest_error(exc: PreflogError) -> dict[str, Any]:
    """A refused REST request's body: ``{code, message, fields?}`` (API.md)."""
    body: dict[str, Any] = {"code": exc.code.value, "message": exc.message}
    if exc.fields:
        body["fields"] = exc.fields
    return body


def _text(value: bytes | None) -> str | None:
    return value.decode("latin-1") if value is not None else None


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    while True:
        message = await receive()
        if message["type"] != "http.request":
            break
        chunks.append(message.get("body", b""))
        if not message.get("more_body", False):
            break
    return b"".join(chunks)


def _replay(body: bytes, receive: Receive) -> Receive:
    """``receive`` for the litestar app once the body has been read here."""
    pending = True

    async def replay() -> ReceiveMessage:
        nonlocal pending
        if pending:
            pending = False
            return HTTPRequestEvent(type="http.request", body=body, more_body=False)
        return await receive()

    return replay


async def _refuse(send: Send, exc: PreflogError) -> None:
    await _answer(send, HTTP_STATUS[exc.code], error_body(exc))


async def _answer(send: Send, status: int, body: bytes) -> None:
    await send(
        HTTPResponseStartEvent(
            type="http.response.start",
            status=status,
            headers=[*_JSON_HEADERS, (b"content-length", str(len(body)).encode())],
        )
    )
    await send(HTTPResponseBodyEvent(type="http.response.body", body=body, more_body=False))
