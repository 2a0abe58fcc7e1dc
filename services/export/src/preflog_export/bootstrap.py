"""The export service's composition root."""

from __future__ import annotations

from preflog_export.adapters.changes import ChangeSignal
from preflog_export.adapters.endpoints import register_endpoints
from preflog_export.adapters.export_stream import ExportStreams
from preflog_export.adapters.feeds import FeedPublisher, ensure_exports_stream
from preflog_export.adapters.read_model import (
    CATEGORIES,
    HANDLED_TYPES,
    ExportReadModel,
    changes_channel,
)
from preflog_messaging.runtime import Runtime, ServiceParts
from preflog_messaging.streams import StreamServer


async def build(runtime: Runtime, *, chunk_bytes: int = 128 * 1024) -> ServiceParts:
    """Consumers of the upstream events, the ``export`` stream and the feed publisher.
    ``chunk_bytes``: about how much NDJSON each stream chunk (and cursor line) spans."""
    settings = runtime.settings
    model = ExportReadModel(settings.namespace)
    signal = ChangeSignal(runtime.pool, changes_channel(settings.namespace))
    rpc = runtime.rpc_server("export")
    streams = StreamServer(rpc)
    exports = ExportStreams(
        runtime.pool,
        runtime.store,
        signal,
        secret=settings.internal_secret,
        chunk_bytes=chunk_bytes,
    )
    feeds = FeedPublisher(
        runtime.pool, runtime.store, runtime.js, signal, namespace=settings.namespace
    )
    await ensure_exports_stream(runtime.js, settings.namespace)
    register_endpoints(rpc, streams, exports, feeds)
    consumer = runtime.consumer(
        "export", None, categories=CATEGORIES, types=HANDLED_TYPES, batch_handler=model.apply
    )
    return ServiceParts(
        name="export",
        rpc=rpc,
        consumers=[consumer],
        loops=[signal.run, feeds.run, streams.run],
    )
