"""A project is loaded from the event types its fold reads (and the stream's last event)."""

from __future__ import annotations

from preflog_contracts.events import event_types
from preflog_labeling.domain import project

# Project events the fold leaves alone, and why: a load does not read them.
IGNORED = {
    "BatchCreated": "its rows become tasks (queue tables); it holds every data row id",
}


def test_every_project_event_is_folded_or_knowingly_ignored() -> None:
    of_projects = {name for name, cls in event_types().items() if cls.category == "project"}
    assert set(project.FOLDED) | set(IGNORED) == of_projects
    assert not set(project.FOLDED) & set(IGNORED)
