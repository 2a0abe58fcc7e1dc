"""Projects, ontologies, members and batches (owned by labeling)."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

import msgspec

from preflog_contracts.events.base import Event


class Option(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    value: str
    label: str = ""
    follow_ups: list[Question] = msgspec.field(default_factory=list)


class Question(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    title: str
    kind: str  # RADIO | CHECKLIST | TEXT | SCALE | YES_NO
    scope: str = "GLOBAL"  # GLOBAL | MESSAGE | RESPONSE
    required: bool = False
    options: list[Option] = msgspec.field(default_factory=list)
    min: float | None = None
    max: float | None = None
    step: float | None = None


def all_questions(questions: Sequence[Question]) -> Iterator[Question]:
    """Every question, follow-ups (nested on options) included, depth first."""
    for q in questions:
        yield q
        for option in q.options:
            yield from all_questions(option.follow_ups)


class ProjectSettings(msgspec.Struct, frozen=True, kw_only=True):
    allow_response_edit: bool = False
    allow_response_add: bool = False
    allow_response_delete: bool = False
    crown_required: bool = False
    review_required: bool = True
    rank_mode: str = "FULL_ORDER"  # FULL_ORDER | SCALE_0_3


class ProjectCreated(Event, frozen=True, kw_only=True):
    category = "project"
    project_id: str
    name: str
    description: str = ""
    quality_mode: str = "BENCHMARK"  # BENCHMARK | CONSENSUS
    consensus_label_count: int = 1
    consensus_coverage: float = 1.0
    settings: ProjectSettings = ProjectSettings()
    owner_id: str = ""


class OntologyUpdated(Event, frozen=True, kw_only=True):
    category = "project"
    project_id: str
    version: int
    questions: list[Question]
    format: str = "NATIVE"
    source: Any = None


class ProjectSettingsChanged(Event, frozen=True, kw_only=True):
    category = "project"
    project_id: str
    settings: ProjectSettings


class MemberAdded(Event, frozen=True, kw_only=True):
    category = "project"
    project_id: str
    user_id: str
    role: str  # OWNER | MANAGER | REVIEWER | ANNOTATOR


class MemberRoleChanged(Event, frozen=True, kw_only=True):
    category = "project"
    project_id: str
    user_id: str
    role: str


class MemberRemoved(Event, frozen=True, kw_only=True):
    """The user no longer belongs to the project: they can no longer see it or work in it;
    what they labeled stays. Their open leases are released by the same command."""

    category = "project"
    project_id: str
    user_id: str


class ProjectArchived(Event, frozen=True, kw_only=True):
    """The project is archived: nobody claims its tasks, acts on its labels or adds rows to
    it any more. Reviews, exports, reads and membership changes go on (ADR 0037)."""

    category = "project"
    project_id: str


class ProjectUnarchived(Event, frozen=True, kw_only=True):
    """An archived project is back: its work goes on where it stopped."""

    category = "project"
    project_id: str


class BatchCreated(Event, frozen=True, kw_only=True):
    category = "project"
    project_id: str
    batch_id: str
    data_row_ids: list[str]
    priority: int = 0
