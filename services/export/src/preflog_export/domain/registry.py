"""Format names and the function producing each item format's records."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from preflog_contracts.errors import Invalid
from preflog_export.domain.formats.dpo import dpo_records
from preflog_export.domain.formats.hh import hh_records
from preflog_export.domain.formats.labelbox import labelbox_records
from preflog_export.domain.formats.native import native_records
from preflog_export.domain.formats.openai_preference import openai_preference_records
from preflog_export.domain.formats.reward_ranking import reward_ranking_records
from preflog_export.domain.item import ExportItem
from preflog_export.domain.options import ExportOptions

ItemFormat = Callable[[ExportItem, ExportOptions], list[Any]]

ITEM_FORMATS: Mapping[str, ItemFormat] = {
    "native": native_records,
    "labelbox": labelbox_records,
    "dpo": dpo_records,
    "reward_ranking": reward_ranking_records,
    "openai_preference": openai_preference_records,
    "hh": hh_records,
}
# ``audit`` records come from the log, not from items.
FORMAT_NAMES: tuple[str, ...] = (*ITEM_FORMATS, "audit")


def check_format(name: str) -> str:
    """``name`` if it is a known format; else :class:`Invalid` listing the valid ones."""
    if name not in FORMAT_NAMES:
        raise Invalid(f"unknown format {name!r}", {"format": "one of " + ", ".join(FORMAT_NAMES)})
    return name


def item_format(name: str) -> ItemFormat:
    """The record function of an item format. Raises :class:`Invalid` for an unknown name
    and for ``audit``, which the service streams from the log instead."""
    check_format(name)
    if name not in ITEM_FORMATS:
        raise Invalid(
            f"format {name!r} is not built from items",
            {"format": "one of " + ", ".join(ITEM_FORMATS)},
        )
    return ITEM_FORMATS[name]
