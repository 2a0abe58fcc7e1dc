"""The GraphQL endpoint on litestar: authentication, rate limit and body cap before execution,
``graphql-transport-ws`` only, and GraphiQL served from the installation."""

from __future__ import annotations

import json
from typing import Any, ClassVar

import msgspec
from graphql import GraphQLError
from litestar import Request, Response
from litestar.background_tasks import BackgroundTasks
from litestar.di import Provide
from litestar.types import Dependencies
from strawberry import Schema
from strawberry.exceptions import ConnectionRejectionError
from strawberry.litestar import make_graphql_controller
from strawberry.subscriptions import GRAPHQL_TRANSPORT_WS_PROTOCOL
from strawberry.subscriptions.protocols.graphql_transport_ws.handlers import (
    BaseGraphQLTransportWSHandler,
)
from strawberry.subscriptions.protocols.graphql_transport_ws.types import (
    ErrorMessage,
    SubscribeMessage,
)

from preflog_contracts.errors import HTTP_STATUS, Invalid, PreflogError
from preflog_gateway.graphiql import graphiql_page
from preflog_gateway.graphql.context import Gateway, GatewayContext
from preflog_gateway.graphql.live import LiveEvents
from preflog_gateway.graphql.post import admit, error_body

GRAPHQL_MAX_BODY = 8 * 1024 * 1024
_json_encoder = msgspec.json.Encoder()
_json_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


def _wants_ide(request: Request[Any, Any, Any]) -> bool:
    return (
        request.method == "GET"
        and "text/html" in request.headers.get("accept", "")
        and "query" not in request.query_params
    )


def graphql_body_cap(gateway: Gateway) -> int:
    return min(GRAPHQL_MAX_BODY, gateway.runtime.settings.max_body_bytes)


class TransportWsHandler(BaseGraphQLTransportWSHandler[Any, Any]):
    """strawberry's handler, refusing with a code what it would not: a subscription beyond
    the connection's limit (``RATE_LIMITED``; strawberry's own error has no code), and a
    payload whose query is not text or whose variables are not an object (``INVALID_INPUT``;
    strawberry passed them to the parser, which raised, and answered only "complete")."""

    async def handle_subscribe(self, message: SubscribeMessage) -> None:
        limit = self.max_subscriptions_per_connection
        payload: Any = message["payload"]
        if not self.connection_acknowledged or message["id"] in self.operations:
            pass  # strawberry closes the connection for these
        elif limit is not None and len(self.operations) >= limit:
            await self._refuse(
                message, f"at most {limit} operations at once on one connection", "RATE_LIMITED"
            )
            return
        elif not (
            isinstance(payload.get("query"), str)
            and isinstance(payload.get("variables") or {}, dict)
            and isinstance(payload.get("operationName") or "", str)
        ):
            await self._refuse(
                message,
                "a subscribe payload needs a query string, variables as an object"
                " and an operationName string",
                "INVALID_INPUT",
            )
            return
        await super().handle_subscribe(message)

    async def _refuse(self, message: SubscribeMessage, text: str, code: str) -> None:
        refused = GraphQLError(text, extensions={"code": code})
        await self.send_message(
            ErrorMessage(id=message["id"], type="error", payload=[refused.formatted])
        )


def graphql_controller(gateway: Gateway, live: LiveEvents, schema: Schema) -> type:
    """The litestar controller serving ``/graphql`` for this gateway (in front of it,
    :class:`preflog_gateway.graphql.post.GraphQLPost` answers most POSTs itself)."""
    body_cap = graphql_body_cap(gateway)

    # ``headers`` is injected for HTTP requests and websockets alike.
    async def context_getter(headers: dict[str, str]) -> dict[str, Any]:
        return {
            "ctx": GatewayContext(gateway, user_agent=headers.get("user-agent")),
            "live": live,
        }

    base = make_graphql_controller(
        schema,
        path="/graphql",
        graphql_ide="graphiql",
        allow_queries_via_get=False,
        context_getter=context_getter,
        subscription_protocols=(GRAPHQL_TRANSPORT_WS_PROTOCOL,),
        multipart_uploads_enabled=False,
    )

    # strawberry provides the response in a worker thread, and three dependencies side by
    # side, which litestar resolves in an anyio task group: per request, a thread hop and a
    # task group cost more than the rest of the HTTP layer. Provided here as a chain of
    # coroutines (each depends on the one before), they resolve one after another.
    async def response_getter(custom_context: Any) -> Response[Any]:
        return Response({}, background=BackgroundTasks([]))

    async def root_value_getter(context: Any) -> None:
        return None

    class GraphQLController(base):  # type: ignore[misc, valid-type]
        graphql_transport_ws_handler_class = TransportWsHandler
        dependencies: ClassVar[Dependencies] = {
            **base.dependencies,
            "response": Provide(response_getter),
            "root_value": Provide(root_value_getter),
        }

        # msgspec instead of the json module, both ways (it was ~2% of the gateway's CPU).
        def encode_json(self, data: object) -> bytes:
            return _json_encoder.encode(data)

        def decode_json(self, data: str | bytes) -> object:
            try:
                return _json_decoder.decode(data)
            # RecursionError: too deep; UnicodeDecodeError: a string that is not UTF-8.
            except (msgspec.DecodeError, RecursionError, UnicodeDecodeError) as exc:
                # strawberry answers this one with 400 (and closes a websocket on it)
                raise json.JSONDecodeError(str(exc), "", 0) from None

        async def execute_request(
            self, request: Request[Any, Any, Any], context: Any, root_value: Any
        ) -> Response[Any]:
            if _wants_ide(request):
                ide: Response[Any] = await super().execute_request(request, context, root_value)
                return ide
            try:
                length = int(request.headers.get("content-length") or 0)
                if length > body_cap or len(await request.body()) > body_cap:
                    raise Invalid("request body too large", {"body": f"at most {body_cap} bytes"})
                await admit(gateway, context["ctx"], request.headers.get("authorization"))
            except PreflogError as exc:
                return Response(
                    error_body(exc),
                    status_code=HTTP_STATUS[exc.code],
                    media_type="application/json",
                )
            result: Response[Any] = await super().execute_request(request, context, root_value)
            return result

        async def on_ws_connect(self, context: Any) -> Any:
            params = context.get("connection_params") or {}
            value = params.get("authorization") or params.get("Authorization")
            try:
                ctx: GatewayContext = context["ctx"]
                ctx.auth = await gateway.authenticator.authenticate(
                    value if isinstance(value, str) else None
                )
                ctx.connection = True
            except PreflogError as exc:
                raise ConnectionRejectionError({"code": exc.code.value}) from None
            return await super().on_ws_connect(context)

        async def render_graphql_ide(self, request: Request[Any, Any, Any]) -> Response[str]:
            return Response(graphiql_page(), media_type="text/html")

    return GraphQLController
