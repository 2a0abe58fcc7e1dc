"""Export feeds: a project's records in one format, published to JetStream for pipelines.

Subject ``<ns>.exports.<project_id>.<format>`` in stream ``<NS>_EXPORTS``, one JSON record
per message with ``Nats-Msg-Id = <project>:<format>:<export_seq>:<n>``. One leader (an
advisory lock) publishes, from the project's first record on, and moves ``published_seq``
only after JetStream acknowledged the page, so a crash republishes a page and the duplicate
window absorbs it. Woken by the read model's change notifications, and polls every second.
"""

from __future__ import annotations

import asyncio
import contextlib
import zlib

import asyncpg
import msgspec
import structlog
from nats.js import JetStreamContext
from nats.js.api import DiscardPolicy, RetentionPolicy, StorageType, StreamConfig
from nats.js.errors import NotFoundError

from preflog_contracts.envelope import stream_name
from preflog_contracts.errors import Conflict, Invalid
from preflog_contracts.events.exports import ExportFeedEnabled
from preflog_contracts.rpc.export import (
    EnableExportFeed,
    ExportFeed,
    ExportFeeds,
    ExportFeedsRequest,
    exports_stream,
    exports_subject,
)
from preflog_eventstore import Conn, EventStore, StreamWrite, sleep_or_stop, unlock_advisory
from preflog_export.adapters.access import project_for_export, project_view
from preflog_export.adapters.changes import ChangeSignal
from preflog_export.adapters.item_pages import item_page, project_high_water
from preflog_export.adapters.read_model import item_decoder
from preflog_export.domain.filters import ExportFilter, export_filter
from preflog_export.domain.registry import ITEM_FORMATS
from preflog_export.domain.rendering import item_records
from preflog_messaging.rpc import CallContext

log = structlog.get_logger(__name__)


async def ensure_exports_stream(js: JetStreamContext, namespace: str) -> str:
    """Create the exports stream if missing; returns its name."""
    name = exports_stream(namespace)
    try:
        await js.stream_info(name)
    except NotFoundError:
        await js.add_stream(
            StreamConfig(
                name=name,
                subjects=[f"{namespace}.exports.>"],
                storage=StorageType.FILE,
                retention=RetentionPolicy.LIMITS,
                discard=DiscardPolicy.OLD,
                duplicate_window=7200.0,
            )
        )
    return name


class FeedPublisher:
    def __init__(
        self,
        pool: asyncpg.Pool,
        store: EventStore,
        js: JetStreamContext,
        signal: ChangeSignal,
        *,
        namespace: str,
        poll_interval: float = 1.0,
        publish_timeout: float = 10.0,
        page: int = 1000,
    ) -> None:
        self.page = page
        self.pool = pool
        self.store = store
        self.js = js
        self.signal = signal
        self.namespace = namespace
        self.poll_interval = poll_interval
        self.publish_timeout = publish_timeout
        self.lock_key = zlib.crc32(f"export-feeds:{namespace}".encode())
        self._encoder = msgspec.json.Encoder()

    def _view(self, row: asyncpg.Record) -> ExportFeed:
        return ExportFeed(
            project_id=row["project_id"],
            format=row["format"],
            status=row["status"],
            pair_strategy=row["pair_strategy"],
            subject=exports_subject(self.namespace, row["project_id"], row["format"]),
            stream=exports_stream(self.namespace),
            published_seq=row["published_seq"],
        )

    async def enable(self, ctx: CallContext, req: EnableExportFeed) -> ExportFeed:
        """Turn a feed on (idempotent for the same options; Conflict for other options on
        an existing feed). Records ``ExportFeedEnabled`` in the log."""
        identity = ctx.require_identity()
        if req.format not in ITEM_FORMATS:
            raise Invalid("unknown feed format", {"format": "one of " + ", ".join(ITEM_FORMATS)})
        export_filter(export_format=req.format, status=req.status, pair_strategy=req.pair_strategy)
        _, role = await project_for_export(self.pool, identity, req.project_id)
        status = req.status.upper()
        async with self.pool.acquire() as conn, conn.transaction():
            row = await conn.fetchrow(
                "select * from export.feeds where project_id = $1 and format = $2 for update",
                req.project_id,
                req.format,
            )
            if row is not None:
                if (row["status"], row["pair_strategy"]) != (status, req.pair_strategy):
                    raise Conflict("the feed is already enabled with other options")
                return self._view(row)
            row = await conn.fetchrow(
                "insert into export.feeds (project_id, format, status, pair_strategy)"
                " values ($1, $2, $3, $4) returning *",
                req.project_id,
                req.format,
                status,
                req.pair_strategy,
            )
            event = ExportFeedEnabled(
                project_id=req.project_id,
                format=req.format,
                status=status,
                pair_strategy=req.pair_strategy,
            )
            await self.store.append(
                StreamWrite(stream_name(ExportFeedEnabled.category, req.project_id), [event]),
                org_id=identity.org_id,
                metadata=ctx.metadata(role, project_id=req.project_id),
                conn=conn,
            )
        self.signal.watch_any().set()
        assert row is not None
        return self._view(row)

    async def list_feeds(self, ctx: CallContext, req: ExportFeedsRequest) -> ExportFeeds:
        await project_for_export(self.pool, ctx.require_identity(), req.project_id)
        rows = await self.pool.fetch(
            "select * from export.feeds where project_id = $1 order by format", req.project_id
        )
        return ExportFeeds(feeds=[self._view(r) for r in rows])

    async def publish_once(self) -> int:
        """Publish one page of every feed's new records; returns how many feeds have more."""
        busy = 0
        for feed in await self.pool.fetch("select * from export.feeds order by project_id, format"):
            flt = export_filter(
                export_format=feed["format"],
                status=feed["status"],
                pair_strategy=feed["pair_strategy"],
            )
            busy += await self._publish_page(feed["project_id"], feed["published_seq"], flt)
        return busy

    async def _publish_page(self, project_id: str, after: int, flt: ExportFilter) -> int:
        high = await project_high_water(self.pool, project_id)
        project = await project_view(self.pool, project_id)
        if high <= after or project is None:
            return 0
        rows = await item_page(
            self.pool, project_id, flt, after_seq=after, upto_seq=high, limit=self.page
        )
        subject = exports_subject(self.namespace, project_id, flt.format)
        acks = []
        for seq, blob in rows:
            for n, record in enumerate(item_records(item_decoder.decode(blob), flt, project)):
                acks.append(
                    await self.js.publish_async(
                        subject,
                        self._encoder.encode(record),
                        wait_stall=self.publish_timeout,
                        headers={"Nats-Msg-Id": f"{project_id}:{flt.format}:{seq}:{n}"},
                    )
                )
        if acks:
            try:
                await asyncio.wait_for(asyncio.gather(*acks), self.publish_timeout)
            except BaseException:
                for ack in acks:
                    ack.cancel()
                raise
        more = len(rows) == self.page
        await self.pool.execute(
            "update export.feeds set published_seq = $3 where project_id = $1 and format = $2",
            project_id,
            flt.format,
            rows[-1][0] if more else high,
        )
        return 1 if more else 0

    async def run(self, stop: asyncio.Event) -> None:
        """Compete for leadership, then publish until ``stop``; standbys retry the lock."""
        await ensure_exports_stream(self.js, self.namespace)
        while not stop.is_set():
            try:
                async with self.pool.acquire() as conn:
                    if not await conn.fetchval("select pg_try_advisory_lock($1)", self.lock_key):
                        await sleep_or_stop(stop, 1.0)
                        continue
                    try:
                        await self._lead(stop, conn)
                    finally:
                        await unlock_advisory(conn, self.lock_key)
            except asyncio.CancelledError:
                raise
            except Exception as exc:
                log.warning("export.feeds_retry", error=repr(exc))
                await sleep_or_stop(stop, 0.5)

    async def _lead(self, stop: asyncio.Event, lock: Conn) -> None:
        """Publish while the session holding the leader's lock lives: publishing goes through
        other connections, so a lost lock session (another instance may take the lock now)
        is noticed by asking that session each round."""
        wake = self.signal.watch_any()
        while not stop.is_set():
            await lock.execute("select 1")
            wake.clear()
            if await self.publish_once():
                continue
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(wake.wait(), self.poll_interval)
