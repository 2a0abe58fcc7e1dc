"""The export service's NATS operations (see ``preflog_contracts.rpc.export``)."""

from __future__ import annotations

from preflog_contracts.rpc.export import (
    EnableExportFeed,
    ExportFeedsRequest,
    ExportFormats,
    ExportFormatsRequest,
    ExportRequest,
)
from preflog_export.adapters.export_stream import ExportStreams
from preflog_export.adapters.feeds import FeedPublisher
from preflog_export.domain.options import _STATUS_FILTERS, PAIR_STRATEGIES
from preflog_export.domain.registry import FORMAT_NAMES
from preflog_messaging.rpc import CallContext, RpcServer
from preflog_messaging.streams import StreamServer


async def export_formats(ctx: CallContext, req: ExportFormatsRequest) -> ExportFormats:
    return ExportFormats(
        formats=list(FORMAT_NAMES),
        statuses=list(_STATUS_FILTERS),
        pair_strategies=list(PAIR_STRATEGIES),
        fields=list(ExportRequest.__struct_fields__),
    )


def register_endpoints(
    rpc: RpcServer, streams: StreamServer, exports: ExportStreams, feeds: FeedPublisher
) -> None:
    streams.register("export", ExportRequest, exports.open)
    rpc.register("enable_export_feed", EnableExportFeed, feeds.enable)
    rpc.register("export_feeds", ExportFeedsRequest, feeds.list_feeds)
    rpc.register("export_formats", ExportFormatsRequest, export_formats)
