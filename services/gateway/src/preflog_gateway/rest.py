"""REST bulk endpoints (API.md "REST for bulk"), streamed through to the owning services.

Errors answer with the matching HTTP status and ``{"code", "message", "fields"?}``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from typing import Any

import msgspec
import structlog
from litestar import Controller, Request, Response, get, post
from litestar.exceptions import HTTPException
from litestar.response import Stream
from litestar.status_codes import HTTP_202_ACCEPTED

from preflog_contracts.errors import HTTP_STATUS, ErrorCode, Invalid, PreflogError
from preflog_contracts.rpc.export import EXPORT_SERVICE, ExportRequest
from preflog_contracts.rpc.ingest import GetImportRequest, ImportView
from preflog_gateway.accounts.authenticate import Authenticated
from preflog_gateway.bulk_import import (
    camel_case,
    camel_key,
    import_report,
    media_type,
    query_int,
    stream_import,
)
from preflog_gateway.graphql.context import Gateway
from preflog_gateway.graphql.errors import public_failure
from preflog_gateway.graphql.post import graphql_error, rest_error
from preflog_messaging.rpc import CallContext, validation_fields
from preflog_messaging.streams import stream_call


def error_response(exc: PreflogError) -> Response[dict[str, Any]]:
    return Response(rest_error(exc), status_code=HTTP_STATUS[exc.code])


log = structlog.get_logger(__name__)
_CODE_OF_STATUS = {status: code for code, status in HTTP_STATUS.items()}


def http_error(request: Request[Any, Any, Any], exc: Exception) -> Response[dict[str, Any]]:
    """What litestar itself refuses (no such route, a method not allowed, a body over the
    cap) or fails on, in the shape of every other error: REST ``{code, message}``, GraphQL
    ``{errors: [{message, extensions: {code}}]}``. A failure is logged, never shown."""
    if isinstance(exc, HTTPException) and exc.status_code < 500:
        status = exc.status_code
        code = _CODE_OF_STATUS.get(status, ErrorCode.INVALID_INPUT)
        refused = PreflogError.from_code(code.value, str(exc.detail))
    else:
        refused = public_failure(exc, "http.failed", path=request.url.path)
        status = exc.status_code if isinstance(exc, HTTPException) else HTTP_STATUS[refused.code]
    if request.url.path.startswith("/graphql"):
        return Response(graphql_error(refused), status_code=status)
    return Response(rest_error(refused), status_code=status)


async def authenticate(gateway: Gateway, request: Request[Any, Any, Any]) -> Authenticated:
    auth = await gateway.authenticator.authenticate(request.headers.get("authorization"))
    gateway.rate_limiter.take(auth.token_id)
    return auth


def call_context(auth: Authenticated, request: Request[Any, Any, Any]) -> CallContext:
    return CallContext(identity=auth.identity, user_agent=request.headers.get("user-agent"))


def export_request(project_id: str, query: Mapping[str, str]) -> ExportRequest:
    """The export service's request from the query string (it validates the values). A
    parameter may be named in snake_case or camelCase; one it does not know is refused, not
    dropped (a misspelt filter would otherwise export everything)."""
    unknown = sorted(k for k in query if k not in _EXPORT_PARAMS)
    if unknown:
        valid = ", ".join(sorted({v for v in _EXPORT_PARAMS.values()}))
        raise Invalid("unknown export parameter", {k: f"not one of {valid}" for k in unknown})
    given = {_EXPORT_PARAMS[k]: v for k, v in query.items()}
    try:
        return msgspec.convert(
            {
                "project_id": project_id,
                **given,
                "follow": given.get("follow", "false").lower() == "true",
                "models": given["models"].split(",") if given.get("models") else None,
            },
            ExportRequest,
            strict=False,
        )
    except msgspec.ValidationError as exc:
        raise Invalid("invalid export parameters", validation_fields(exc)) from None


_EXPORT_NAMES = (
    "format",
    "status",
    "since",
    "follow",
    "models",
    "batch_id",
    "since_time",
    "until_time",
    "pair_strategy",
    "heartbeat_seconds",
)
_EXPORT_PARAMS = {
    **{name: name for name in _EXPORT_NAMES},
    **{camel_key(name): name for name in _EXPORT_NAMES},
}
"""Each accepted query parameter name (snake_case or camelCase) -> the request's field."""


def bulk_controller(gateway: Gateway) -> type[Controller]:
    class BulkController(Controller):
        path = "/v1"
        include_in_schema = False

        # Streamed in constant memory, so no body cap here: an import file may be far larger
        # than any GraphQL request (ingest limits each row instead).
        @post("/datasets/{dataset_id:str}/imports", request_max_body_size=None, status_code=202)
        async def start_import(
            self, request: Request[Any, Any, Any], dataset_id: str
        ) -> Response[Any]:
            """NDJSON, a JSON array, or a Labelbox import file; answers 202 ``{importId}``
            once the body is in (rows are committed by then; errors via GET /v1/imports)."""
            try:
                auth = await authenticate(gateway, request)
                ack = await stream_import(
                    gateway.runtime.rpc,
                    call_context(auth, request),
                    dataset_id,
                    media_type(request.headers.get("content-type")),
                    request.stream(),
                )
            except PreflogError as exc:
                return error_response(exc)
            body = {"importId": ack.import_id, "status": ack.status}
            body["counts"] = camel_case(msgspec.to_builtins(ack.counts))
            return Response(body, status_code=HTTP_202_ACCEPTED)

        @get("/imports/{import_id:str}")
        async def import_status(
            self,
            request: Request[Any, Any, Any],
            import_id: str,
        ) -> Response[Any]:
            """Status, counts, a page of row errors (``nextErrorsAfter`` pages on), timings."""
            try:
                auth = await authenticate(gateway, request)
                query = request.query_params
                errors_after = query_int(query, "errorsAfter", 0, 2**62)
                errors_limit = query_int(query, "errorsLimit", 100, 500)
                view = await gateway.runtime.rpc.call(
                    "ingest",
                    "get_import",
                    GetImportRequest(
                        import_id=import_id, errors_after=errors_after, errors_limit=errors_limit
                    ),
                    ctx=call_context(auth, request),
                    response_type=ImportView,
                )
            except PreflogError as exc:
                return error_response(exc)
            return Response(import_report(view))

        @get("/projects/{project_id:str}/export")
        async def export(self, request: Request[Any, Any, Any], project_id: str) -> Response[Any]:
            """NDJSON streamed from the export service as it is read (constant memory)."""
            try:
                auth = await authenticate(gateway, request)
                body = export_request(project_id, dict(request.query_params))
                ctx = call_context(auth, request)
                chunks = stream_call(
                    gateway.runtime.rpc, EXPORT_SERVICE, "export", body, ctx=ctx
                ).__aiter__()
                # Errors before the first chunk (bad format, forbidden, missing project) map
                # to HTTP statuses; after that the status line is already sent.
                first = await anext(chunks, b"")
            except PreflogError as exc:
                return error_response(exc)

            async def ndjson() -> AsyncIterator[bytes]:
                if first:
                    yield first
                try:
                    async for chunk in chunks:
                        yield chunk
                except PreflogError as exc:
                    yield (
                        msgspec.json.encode(
                            {"_error": {"code": exc.code.value, "message": exc.message}}
                        )
                        + b"\n"
                    )

            return Stream(ndjson(), media_type="application/x-ndjson")

    return BulkController
