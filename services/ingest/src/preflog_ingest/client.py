"""The caller's side of a chunked import: a file's bytes sent to ``import_chunk`` in order.

The gateway's bulk endpoint streams an HTTP body its own way (bulk_import.py); the
``preflog import`` command and the import benchmark send a file with this.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import BinaryIO

from preflog_contracts.rpc.ingest import CHUNK_TIMEOUT_SECONDS, ChunkAck, ImportChunk
from preflog_messaging import CallContext, RpcClient


async def send_file(
    rpc: RpcClient, ctx: CallContext, import_id: str, body: BinaryIO, chunk_bytes: int
) -> AsyncIterator[tuple[ChunkAck, int]]:
    """Send ``body`` to import ``import_id`` in chunks of ``chunk_bytes``, one at a time, the
    last marked final; yields each chunk's acknowledgement and size. Stops after an
    acknowledgement that says the import FAILED."""
    seq, chunk = 0, body.read(chunk_bytes)
    while True:
        following = body.read(chunk_bytes)
        ack = await rpc.call(
            "ingest",
            "import_chunk",
            ImportChunk(import_id=import_id, seq=seq, data=chunk, final=not following),
            ctx=ctx,
            response_type=ChunkAck,
            timeout=CHUNK_TIMEOUT_SECONDS,
        )
        yield ack, len(chunk)
        if not following or ack.status == "FAILED":
            return
        seq, chunk = seq + 1, following
