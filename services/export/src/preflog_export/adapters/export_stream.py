"""The ``export`` stream: NDJSON records of a project, then cursor lines; optionally live.

Each chunk handed to the transport holds whole records of whole items followed by a cursor
line for everything up to there, so a client that keeps the last cursor line it received
can resume after a cut with nothing lost and nothing repeated (records after the last
cursor line of a cut chunk are dropped by the client and sent again).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Coroutine
from typing import Any

import asyncpg
import msgspec
import structlog

from preflog_contracts.envelope import Cursor, Metadata, stream_name
from preflog_contracts.errors import Invalid
from preflog_contracts.events.exports import ExportCheckpointed
from preflog_contracts.rpc.export import ExportRequest
from preflog_eventstore import EventStore, StreamWrite
from preflog_export.adapters.access import project_for_export
from preflog_export.adapters.changes import ChangeSignal
from preflog_export.adapters.item_pages import (
    item_pages,
    project_high_water,
)
from preflog_export.adapters.read_model import item_decoder
from preflog_export.domain.cursor import ExportCursor, decode_cursor, encode_cursor
from preflog_export.domain.filters import ExportFilter, export_filter, filter_hash
from preflog_export.domain.formats.audit import audit_record
from preflog_export.domain.rendering import ProjectView, item_records
from preflog_messaging.rpc import CallContext

MIN_HEARTBEAT, MAX_HEARTBEAT = 0.2, 60.0
CHECKPOINT_SECONDS = 60.0
"""How often a live export stream that moved on leaves an ExportCheckpointed."""

log = structlog.get_logger(__name__)
_cursor_decoder = msgspec.json.Decoder(dict[str, Any])


def last_cursor(chunk: bytes) -> str | None:
    """The cursor of a chunk's last line (``{"_cursor": "..."}``), if it is one."""
    start = chunk.rfind(b"\n", 0, len(chunk) - 1) + 1
    try:
        value = _cursor_decoder.decode(chunk[start:]).get("_cursor")
    except msgspec.DecodeError:
        return None
    return value if isinstance(value, str) else None


class ExportStreams:
    """Opens export streams (the ``export`` streaming operation's handler)."""

    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        signal: ChangeSignal,
        *,
        secret: str,
        chunk_bytes: int = 128 * 1024,
    ) -> None:
        self.pool = pool
        self.store = store
        self.signal = signal
        self.secret = secret
        self.chunk_bytes = chunk_bytes
        self._encoder = msgspec.json.Encoder()
        self._appends: set[asyncio.Task[object]] = set()

    async def open(self, ctx: CallContext, req: ExportRequest) -> AsyncIterator[bytes]:
        """Validate and authorize, then return the stream. Raises Invalid (format, filters,
        cursor, heartbeat), NotFound (project outside the caller's org) or Forbidden."""
        identity = ctx.require_identity()
        flt = export_filter(
            export_format=req.format,
            status=req.status,
            pair_strategy=req.pair_strategy,
            models=req.models,
            batch_id=req.batch_id,
            since_time=req.since_time,
            until_time=req.until_time,
        )
        if not MIN_HEARTBEAT <= req.heartbeat_seconds <= MAX_HEARTBEAT:
            raise Invalid(
                "heartbeat out of range",
                {"heartbeat_seconds": f"between {MIN_HEARTBEAT} and {MAX_HEARTBEAT}"},
            )
        project, role = await project_for_export(self.pool, identity, req.project_id)
        if flt.batch_id is not None:
            await self._check_batch(req.project_id, flt.batch_id)
        digest = filter_hash(flt)
        start = (
            decode_cursor(self.secret, req.since, project_id=req.project_id, filter_hash=digest)
            if req.since
            else ExportCursor(req.project_id, digest, 0)
        )
        if flt.format == "audit":
            stream = self._audit(identity.org_id, flt, start, req.follow, req.heartbeat_seconds)
        else:
            stream = self._items(project, flt, start, req.follow, req.heartbeat_seconds)
        metadata = ctx.metadata(role, project_id=req.project_id)
        return self._recorded(stream, identity.org_id, metadata, req)

    async def _recorded(
        self, stream: AsyncIterator[bytes], org_id: str, metadata: Metadata, req: ExportRequest
    ) -> AsyncIterator[bytes]:
        """``stream``, leaving ``ExportCheckpointed`` in the log when it ends (however it
        ends: finished, cut by the client, or stopped) and every ``CHECKPOINT_SECONDS``
        while a live one moves on: who exported what, and how far. A stream resumed from a
        cursor that sent nothing leaves none, so a pipeline polling does not fill the log."""
        since = req.since or ""
        sent, cursor, noted = 0, since, (0, since)
        last = time.monotonic()

        def checkpoint(done: bool) -> None:
            event = ExportCheckpointed(
                project_id=req.project_id,
                format=req.format,
                consumer=metadata.user_agent or "",
                cursor=cursor,
                records=sent,
                since=since,
                status=req.status.upper(),
                done=done,
            )
            self._keep(
                self.store.append(
                    StreamWrite(stream_name(ExportCheckpointed.category, req.project_id), [event]),
                    org_id=org_id,
                    metadata=metadata,
                )
            )

        try:
            async for chunk in stream:
                # Every chunk is whole records and then one cursor line.
                sent += chunk.count(b"\n") - 1
                cursor = last_cursor(chunk) or cursor
                yield chunk
                if time.monotonic() - last >= CHECKPOINT_SECONDS and (sent, cursor) != noted:
                    checkpoint(done=False)
                    noted, last = (sent, cursor), time.monotonic()
        finally:
            # Not awaited here: a stream cut by its client is closed by cancellation. A
            # resumed stream that found nothing new (a pipeline polling) leaves nothing.
            if sent or not since or noted != (0, since):
                checkpoint(done=True)

    def _keep(self, append: Coroutine[Any, Any, object]) -> None:
        """Run ``append`` on its own; a failure is logged (the export itself went through)."""
        task = asyncio.get_running_loop().create_task(append)
        self._appends.add(task)

        def done(t: asyncio.Task[object]) -> None:
            self._appends.discard(t)
            if not t.cancelled() and t.exception() is not None:
                log.warning("export.checkpoint_failed", error=repr(t.exception()))

        task.add_done_callback(done)

    async def _check_batch(self, project_id: str, batch_id: str) -> None:
        batches = [
            r[0]
            for r in await self.pool.fetch(
                "select batch_id from export.batches where project_id = $1"
                " order by batch_id limit 21",
                project_id,
            )
        ]
        if batch_id not in batches and not await self.pool.fetchval(
            "select 1 from export.batches where project_id = $1 and batch_id = $2",
            project_id,
            batch_id,
        ):
            listed = ", ".join(batches[:20]) + (", ..." if len(batches) > 20 else "")
            raise Invalid("unknown batch", {"batch_id": f"one of {listed or '(no batches)'}"})

    def _cursor_line(self, cursor: ExportCursor) -> bytes:
        return self._encoder.encode({"_cursor": encode_cursor(self.secret, cursor)}) + b"\n"

    async def _items(
        self,
        project: ProjectView,
        flt: ExportFilter,
        start: ExportCursor,
        follow: bool,
        heartbeat: float,
    ) -> AsyncIterator[bytes]:
        project_id = start.project_id
        seq = start.seq
        encoder = self._encoder
        buffer = bytearray()
        while True:
            wake = self.signal.watch(project_id) if follow else None
            high = await project_high_water(self.pool, project_id)
            async for rows in item_pages(self.pool, project_id, flt, after_seq=seq, upto_seq=high):
                for row_seq, blob in rows:
                    for record in item_records(item_decoder.decode(blob), flt, project):
                        encoder.encode_into(record, buffer, -1)
                        buffer += b"\n"
                    if len(buffer) >= self.chunk_bytes:
                        buffer += self._cursor_line(msgspec.structs.replace(start, seq=row_seq))
                        yield bytes(buffer)
                        buffer.clear()
            if high > seq:
                seq = high
            buffer += self._cursor_line(msgspec.structs.replace(start, seq=seq))
            yield bytes(buffer)
            buffer.clear()
            if wake is None:
                return
            while not wake.is_set():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(wake.wait(), heartbeat)
                if not wake.is_set():
                    yield self._cursor_line(msgspec.structs.replace(start, seq=seq))

    async def _audit(
        self,
        org_id: str,
        flt: ExportFilter,
        start: ExportCursor,
        follow: bool,
        heartbeat: float,
    ) -> AsyncIterator[bytes]:
        position = (start.tx, start.seq)
        encoder = self._encoder
        buffer = bytearray()
        while True:
            wake = self.signal.watch(start.project_id) if follow else None
            while True:
                # The store's gap-safe read: a resumed audit stream must not skip an event
                # that committed late with a lower position.
                events = await self.store.read_all(
                    Cursor(*position),
                    org_id=org_id,
                    project_id=start.project_id,
                    recorded_from=flt.since_time,
                    recorded_before=flt.until_time,
                )
                for event in events:
                    encoder.encode_into(audit_record(event), buffer, -1)
                    buffer += b"\n"
                if events:
                    position = (events[-1].tx_id, events[-1].global_position)
                if len(buffer) >= self.chunk_bytes or (buffer and not events):
                    buffer += self._audit_cursor(start, position)
                    yield bytes(buffer)
                    buffer.clear()
                if not events:
                    break
            if wake is None:
                yield self._audit_cursor(start, position)
                return
            # Not every project event changes an item, so audit also polls each heartbeat.
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), heartbeat)
            if not wake.is_set():
                yield self._audit_cursor(start, position)

    def _audit_cursor(self, start: ExportCursor, position: tuple[int, int]) -> bytes:
        return self._cursor_line(msgspec.structs.replace(start, tx=position[0], seq=position[1]))
