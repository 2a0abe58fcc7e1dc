"""The gateway's litestar application (composition root of the HTTP side)."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide
from litestar.exceptions import HTTPException
from litestar.types import ASGIApp

from preflog_gateway.gateway import GatewayParts, gateway_parts
from preflog_gateway.graphiql import graphiql_assets_router
from preflog_gateway.graphql.http import graphql_body_cap, graphql_controller
from preflog_gateway.graphql.post import GraphQLPost
from preflog_gateway.graphql.schema import build_schema
from preflog_gateway.health import HealthController
from preflog_gateway.http_metrics import HttpMetrics
from preflog_gateway.rest import bulk_controller, http_error
from preflog_messaging.runtime import Runtime


def build_app(runtime: Runtime, parts: GatewayParts | None = None) -> ASGIApp:
    """The HTTP app. Its background loops start in :func:`preflog_gateway.bootstrap.on_start`
    (uvicorn runs it with lifespan off)."""
    parts = parts or gateway_parts(runtime)
    schema = build_schema(runtime.settings)

    def provide_runtime() -> Runtime:
        return runtime

    app = Litestar(
        route_handlers=[
            HealthController,
            graphql_controller(parts.gateway, parts.live, schema),
            bulk_controller(parts.gateway),
            graphiql_assets_router(),
        ],
        dependencies={"runtime": Provide(provide_runtime, sync_to_thread=False)},
        request_max_body_size=runtime.settings.max_body_bytes,
        exception_handlers={HTTPException: http_error, 500: http_error},
    )
    return HttpMetrics(
        GraphQLPost(app, schema, parts.gateway, parts.live, graphql_body_cap(parts.gateway))
    )
