"""Which records an export stream carries: the format, the options and the filters.

Validated once when the stream opens; its :func:`filter_hash` binds resume cursors to it.
Batch and time filters act on the item (labels outside the time range are dropped before
formatting), the status, model and pair options on the formats (:class:`ExportOptions`).
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable
from datetime import datetime

import msgspec

from preflog_contracts.errors import Invalid
from preflog_export.domain.item import ExportItem, ExportLabel
from preflog_export.domain.options import ExportOptions, export_options
from preflog_export.domain.registry import check_format


class ExportFilter(msgspec.Struct, frozen=True, kw_only=True):
    format: str
    options: ExportOptions
    batch_id: str | None = None
    since_time: datetime | None = None
    until_time: datetime | None = None

    @property
    def label_statuses(self) -> list[str]:
        return sorted(self.options.label_statuses)


def export_filter(
    *,
    export_format: str,
    status: str = "APPROVED",
    pair_strategy: str = "best_vs_rest",
    models: Iterable[str] | None = None,
    batch_id: str | None = None,
    since_time: datetime | None = None,
    until_time: datetime | None = None,
) -> ExportFilter:
    """The filter of a request. Raises :class:`Invalid` naming the valid values of an
    unknown format, status or pair strategy, and for a time range that is empty or naive."""
    check_format(export_format)
    options = export_options(pair_strategy=pair_strategy, status=status, models=models)
    for name, value in (("since_time", since_time), ("until_time", until_time)):
        if value is not None and value.tzinfo is None:
            raise Invalid(f"{name} needs a time zone", {name: "an ISO 8601 time with offset"})
    if since_time is not None and until_time is not None and since_time >= until_time:
        raise Invalid("the time range is empty", {"until_time": "must be after since_time"})
    return ExportFilter(
        format=export_format,
        options=options,
        batch_id=batch_id,
        since_time=since_time,
        until_time=until_time,
    )


def filter_hash(flt: ExportFilter) -> str:
    """A short stable hash of everything that decides which records a stream carries."""
    canonical = msgspec.json.encode(
        [
            flt.format,
            flt.label_statuses,
            flt.options.pair_strategy,
            sorted(flt.options.models) if flt.options.models is not None else None,
            flt.batch_id,
            flt.since_time.isoformat() if flt.since_time else None,
            flt.until_time.isoformat() if flt.until_time else None,
        ]
    )
    return hashlib.sha256(canonical).hexdigest()[:16]


def label_time(label: ExportLabel) -> datetime:
    """When the label reached its current status: its last review, else its submission."""
    return label.reviews[-1].at if label.reviews else label.submitted_at


def item_in_time_range(item: ExportItem, flt: ExportFilter) -> ExportItem:
    """``item`` with only the labels whose :func:`label_time` is in the filter's range
    (the item itself when the filter has no range)."""
    if flt.since_time is None and flt.until_time is None:
        return item
    kept = [
        label
        for label in item.labels
        if (flt.since_time is None or label_time(label) >= flt.since_time)
        and (flt.until_time is None or label_time(label) < flt.until_time)
    ]
    if len(kept) == len(item.labels):
        return item
    return msgspec.structs.replace(item, labels=kept)
