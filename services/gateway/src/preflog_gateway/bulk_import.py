"""Streaming a REST import body through to the ingest service, chunk by chunk.

The body is never held whole: bytes are regrouped into pieces of at most
``MAX_CHUNK_BYTES`` and each ``import_chunk`` call is awaited before more of the body is read,
so a slow import slows the client (back-pressure) and the gateway's memory stays constant.
"""

from __future__ import annotations

import contextlib
import re
from collections.abc import AsyncIterable, AsyncIterator, Mapping
from typing import Any

import msgspec

from preflog_contracts.errors import Invalid
from preflog_contracts.rpc.ingest import (
    CHUNK_TIMEOUT_SECONDS,
    JSON_TYPE,
    MAX_CHUNK_BYTES,
    ChunkAck,
    ImportChunk,
    ImportRef,
    ImportStartedView,
    ImportView,
    StartImportRequest,
)
from preflog_messaging.rpc import CallContext, RpcClient

INGEST = "ingest"


def media_type(header: str | None) -> str:
    """The bare media type of a Content-Type header (parameters dropped); JSON when absent."""
    if not header:
        return JSON_TYPE
    return header.split(";", 1)[0].strip().lower() or JSON_TYPE


async def pieces(body: AsyncIterable[bytes], size: int) -> AsyncIterator[bytes]:
    """``body`` regrouped into pieces of exactly ``size`` bytes (the last may be shorter or
    empty). At most about two pieces are held at a time."""
    buffer = bytearray()
    async for data in body:
        buffer += data
        while len(buffer) >= size:
            yield bytes(buffer[:size])
            del buffer[:size]
    yield bytes(buffer)


async def stream_import(
    rpc: RpcClient,
    ctx: CallContext,
    dataset_id: str,
    content_type: str,
    body: AsyncIterable[bytes],
) -> ChunkAck:
    """Start an import and send ``body`` to it; returns the last acknowledgement (COMPLETED,
    or FAILED when the service gave up on the body, e.g. malformed JSON).

    Errors before the import exists (unknown dataset, no rights, unsupported type) raise as
    the service raised them. If the body cannot be read to its end (the client went away) or
    a chunk is refused, the import is aborted (so it reads FAILED) and the error re-raised.
    """
    started = await rpc.call(
        INGEST,
        "start_import",
        StartImportRequest(dataset_id=dataset_id, content_type=content_type),
        ctx=ctx,
        response_type=ImportStartedView,
    )
    import_id = started.import_id
    size = min(started.max_chunk_bytes, MAX_CHUNK_BYTES)
    try:
        seq = 0
        iterator = pieces(body, size).__aiter__()
        piece = await anext(iterator)  # there is always one piece, if only an empty one
        while True:
            # Read one piece ahead: the call for the last piece must say it is final.
            following = await anext(iterator, None)
            ack = await rpc.call(
                INGEST,
                "import_chunk",
                ImportChunk(import_id=import_id, seq=seq, data=piece, final=following is None),
                ctx=ctx,
                response_type=ChunkAck,
                timeout=CHUNK_TIMEOUT_SECONDS,
            )
            if following is None or ack.status != "RUNNING":
                return ack
            piece, seq = following, seq + 1
    except BaseException:
        with contextlib.suppress(Exception):
            await rpc.call(
                INGEST,
                "abort_import",
                ImportRef(import_id=import_id),
                ctx=ctx,
                response_type=ImportView,
            )
        raise


_CAMEL = re.compile(r"_([a-z0-9])")


def camel_key(key: str) -> str:
    """``snake_case`` -> ``camelCase``."""
    return _CAMEL.sub(lambda m: m.group(1).upper(), key)


def camel_case(value: Any) -> Any:
    """Builtins (from msgspec) with every dict key renamed snake_case -> camelCase."""
    if isinstance(value, dict):
        return {camel_key(k): camel_case(v) for k, v in value.items()}
    if isinstance(value, list):
        return [camel_case(v) for v in value]
    return value


def query_int(query: Mapping[str, str], name: str, default: int, maximum: int) -> int:
    """A non-negative integer query parameter; INVALID_INPUT naming it otherwise."""
    raw = query.get(name)
    if raw is None or raw == "":
        return default
    if not raw.isdigit() or int(raw) > maximum:
        raise Invalid(f"invalid {name}", {name: f"an integer from 0 to {maximum}"})
    return int(raw)


def import_report(view: ImportView) -> dict[str, Any]:
    """The REST body of ``GET /v1/imports/{id}`` (camelCase; errors carry their line)."""
    report: dict[str, Any] = camel_case(msgspec.to_builtins(view))
    return report


__all__ = ["camel_case", "import_report", "media_type", "pieces", "query_int", "stream_import"]
