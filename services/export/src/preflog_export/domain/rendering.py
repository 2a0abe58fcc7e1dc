"""One stored item to the records of a stream's format, under the stream's filter."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import msgspec

from preflog_contracts.events.projects import Question
from preflog_export.domain.filters import ExportFilter, item_in_time_range
from preflog_export.domain.item import ExportItem
from preflog_export.domain.registry import item_format

# Formats that show the ontology; the others never read ``questions``.
_NEEDS_QUESTIONS = frozenset({"native", "labelbox"})


class ProjectView(msgspec.Struct, frozen=True, kw_only=True):
    """The project-wide fields stored once per project, not in every item."""

    name: str
    rank_mode: str
    questions: Sequence[Question]


def item_records(item: ExportItem, flt: ExportFilter, project: ProjectView) -> list[Any]:
    """The records of ``item`` in the filter's (item) format: the project's current name,
    rank mode and ontology applied, labels outside the time range left out."""
    changes: dict[str, Any] = {}
    if item.rank_mode != project.rank_mode:
        changes["rank_mode"] = project.rank_mode
    if item.project_name != project.name:
        changes["project_name"] = project.name
    if flt.format in _NEEDS_QUESTIONS and project.questions:
        changes["questions"] = list(project.questions)
    if changes:
        item = msgspec.structs.replace(item, **changes)
    item = item_in_time_range(item, flt)
    return item_format(flt.format)(item, flt.options)
