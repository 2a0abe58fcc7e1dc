"""Every HTTP request the gateway answers, counted and timed on ``/metrics``.

``preflog_http_requests_total{route, status}`` and ``preflog_http_latency_seconds{route}``,
from the request's arrival in the app to the end of its answer (a streamed export's whole
stream). ``route`` names the endpoint, never the ids in its path, so the series stay few.
WebSocket subscriptions are not requests: they are left out.
"""

from __future__ import annotations

import time

from litestar.enums import ScopeType
from litestar.types import ASGIApp, Message, Receive, Scope, Send

from preflog_gateway.graphiql import ASSETS_PATH
from preflog_observability.metrics import HTTP_LATENCY, HTTP_REQUESTS, Children

_EXACT = {
    "/graphql": "graphql",
    "/healthz": "healthz",
    "/readyz": "readyz",
    "/metrics": "metrics",
}


def route_of(path: str) -> str:
    """The endpoint a path belongs to, ids left out."""
    exact = _EXACT.get(path)
    if exact is not None:
        return exact
    if path.startswith("/v1/datasets/") and path.endswith("/imports"):
        return "v1.imports.create"
    if path.startswith("/v1/imports/"):
        return "v1.imports.get"
    if path.startswith("/v1/projects/") and path.endswith("/export"):
        return "v1.projects.export"
    if path.startswith(ASSETS_PATH):
        return "graphiql.assets"
    return "other"


class HttpMetrics:
    """ASGI wrapper outside everything else of the gateway's app."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app
        self._latency = Children(HTTP_LATENCY)
        self._requests = Children(HTTP_REQUESTS)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != ScopeType.HTTP:
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = 500  # what the server answers when the app fails before it starts its answer

        async def sending(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
            await send(message)

        route = route_of(scope["path"])
        try:
            await self.app(scope, receive, sending)
        finally:
            self._latency(route).observe(time.perf_counter() - started)
            self._requests(route, str(status)).inc()
