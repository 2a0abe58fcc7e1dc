"""REST bulk endpoints (API.md "REST for bulk"), streamed through to the owning services.

Errors answer with the matching HTTP status and ``{"code", "message", "fields"?}``.
"""

from __future__ import annotations

from typing import Any

from litestar import Controller, Request, Response, get, post
from preflog_contracts.errors import HTTP_STATUS, PreflogError, RateLimited

from preflog_gateway.accounts.authenticate import Authenticated
from preflog_gateway.graphql.backends import not_wired
from preflog_gateway.graphql.context import Gateway


def error_response(exc: PreflogError) -> Response[dict[str, Any]]:
    body: dict[str, Any] = {"code": exc.code.value, "message": exc.message}
    if exc.fields:
        body["fields"] = exc.fields
    return Response(body, status_code=HTTP_STATUS[exc.code])


async def authenticate(gateway: Gateway, request: Request[Any, Any, Any]) -> Authenticated:
    auth = await gateway.authenticator.authenticate(request.headers.get("authorization"))
    if not gateway.rate_limiter.allow(auth.token_id):
        raise RateLimited("too many requests for this token; slow down")
    return auth


def bulk_controller(gateway: Gateway) -> type[Controller]:
    class BulkController(Controller):
        path = "/v1"
        include_in_schema = False

        @post("/datasets/{dataset_id:str}/imports")
        async def start_import(
            self, request: Request[Any, Any, Any], dataset_id: str
        ) -> Response[Any]:
            try:
                await authenticate(gateway, request)
                not_wired("ingest", "REST import")
            except PreflogError as exc:
                return error_response(exc)

        @get("/imports/{import_id:str}")
        async def import_status(
            self, request: Request[Any, Any, Any], import_id: str
        ) -> Response[Any]:
            try:
                await authenticate(gateway, request)
                not_wired("ingest", "import status")
            except PreflogError as exc:
                return error_response(exc)

        @get("/projects/{project_id:str}/export")
        async def export(self, request: Request[Any, Any, Any], project_id: str) -> Response[Any]:
            try:
                await authenticate(gateway, request)
                not_wired("export", "export")
            except PreflogError as exc:
                return error_response(exc)

    return BulkController
