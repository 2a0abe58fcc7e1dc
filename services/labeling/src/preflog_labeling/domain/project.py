"""A project's state folded from its stream, and the decisions about it."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence

import msgspec

from preflog_contracts.errors import Invalid, NotFound
from preflog_contracts.events.base import Event
from preflog_contracts.events.projects import (
    BatchCreated,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    OntologyUpdated,
    ProjectArchived,
    ProjectCreated,
    ProjectSettings,
    ProjectSettingsChanged,
    ProjectUnarchived,
    Question,
)
from preflog_contracts.rpc.labeling import OntologyInput, ProjectSettingsPatch
from preflog_labeling.domain.ontology import check_questions
from preflog_labeling.domain.ontology_formats import from_dataloop, from_labelbox
from preflog_labeling.domain.roles import PROJECT_ROLES

QUALITY_MODES = ("BENCHMARK", "CONSENSUS")
RANK_MODES = ("FULL_ORDER", "SCALE_0_3")


class ProjectState(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    name: str = ""
    description: str = ""
    quality_mode: str = "BENCHMARK"
    consensus_label_count: int = 1
    consensus_coverage: float = 1.0
    settings: ProjectSettings = ProjectSettings()
    ontology_version: int = 0
    ontology_format: str = "NATIVE"
    questions: tuple[Question, ...] = ()
    members: dict[str, str] = {}
    archived: bool = False
    version: int = -1  # the stream's version folded so far
    exists: bool = False


FOLDED = (
    "ProjectCreated",
    "OntologyUpdated",
    "ProjectSettingsChanged",
    "MemberAdded",
    "MemberRoleChanged",
    "MemberRemoved",
    "ProjectArchived",
    "ProjectUnarchived",
)
"""The event types ``evolve`` reads; a load reads only these (and the stream's last event)."""


def evolve(state: ProjectState, event: Event) -> ProjectState:
    """The state after ``event`` (events of other types leave it unchanged)."""
    r = msgspec.structs.replace
    match event:
        case ProjectCreated():
            return r(
                state,
                exists=True,
                name=event.name,
                description=event.description,
                quality_mode=event.quality_mode,
                consensus_label_count=event.consensus_label_count,
                consensus_coverage=event.consensus_coverage,
                settings=event.settings,
            )
        case OntologyUpdated():
            return r(
                state,
                ontology_version=event.version,
                questions=tuple(event.questions),
                ontology_format=event.format,
            )
        case ProjectSettingsChanged():
            return r(state, settings=event.settings)
        case MemberAdded() | MemberRoleChanged():
            return r(state, members={**state.members, event.user_id: event.role})
        case MemberRemoved():
            return r(state, members={u: role for u, role in state.members.items() if u != event.user_id})
        case ProjectArchived():
            return r(state, archived=True)
        case ProjectUnarchived():
            return r(state, archived=False)
    return state


def check_not_archived(state: ProjectState, refused: str) -> None:
    """Invalid when the project is archived (``refused`` says what it no longer takes)."""
    if state.archived:
        raise Invalid(f"the project is archived: {refused}", {"project_id": "archived"})


def decide_archived(state: ProjectState, archived: bool) -> list[Event]:
    """Archive or unarchive; nothing when the project is so already (a repeat is harmless)."""
    if state.archived == archived:
        return []
    event = ProjectArchived if archived else ProjectUnarchived
    return [event(project_id=state.project_id)]


def fold(state: ProjectState, events: Sequence[tuple[int, Event]]) -> ProjectState:
    """Fold ``(stream_position, event)`` pairs; keeps the last position as ``version``."""
    for position, event in events:
        state = msgspec.structs.replace(evolve(state, event), version=position)
    return state


def questions_from_input(ontology: OntologyInput) -> list[Question]:
    """Native questions from any accepted form; Invalid (with field paths) otherwise."""
    fmt = ontology.format.upper()
    if fmt == "NATIVE":
        questions = list(ontology.questions or [])
    elif fmt == "LABELBOX":
        questions = from_labelbox(ontology.source)
    elif fmt == "DATALOOP":
        questions = from_dataloop(ontology.source)
    else:
        raise Invalid("unknown ontology format", {"ontology.format": "NATIVE, LABELBOX or DATALOOP"})
    check_questions(questions)
    return questions


def apply_settings_patch(settings: ProjectSettings, patch: ProjectSettingsPatch | None) -> ProjectSettings:
    if patch is None:
        return settings
    changes = {f: getattr(patch, f) for f in patch.__struct_fields__ if getattr(patch, f) is not None}
    out = msgspec.structs.replace(settings, **changes)
    if out.rank_mode not in RANK_MODES:
        raise Invalid("unknown rank mode", {"settings.rank_mode": "FULL_ORDER or SCALE_0_3"})
    return out


def decide_create(
    *,
    project_id: str,
    owner_id: str,
    name: str,
    description: str,
    quality_mode: str,
    consensus_label_count: int,
    consensus_coverage: float,
    settings: ProjectSettings,
    ontology: OntologyInput | None,
) -> list[Event]:
    """ProjectCreated, the first OntologyUpdated (version 1) and the creator as OWNER."""
    errors: dict[str, str] = {}
    if not name.strip():
        errors["name"] = "a project needs a name"
    if quality_mode not in QUALITY_MODES:
        errors["quality_mode"] = "BENCHMARK or CONSENSUS"
    if not 1 <= consensus_label_count <= 100:
        errors["consensus_label_count"] = "between 1 and 100"
    if not 0.0 <= consensus_coverage <= 1.0:
        errors["consensus_coverage"] = "between 0 and 1"
    if errors:
        raise Invalid("the project is not valid", errors)
    questions = questions_from_input(ontology) if ontology is not None else []
    fmt = ontology.format.upper() if ontology is not None else "NATIVE"
    return [
        ProjectCreated(
            project_id=project_id,
            name=name.strip(),
            description=description,
            quality_mode=quality_mode,
            consensus_label_count=consensus_label_count,
            consensus_coverage=consensus_coverage,
            settings=settings,
            owner_id=owner_id,
        ),
        OntologyUpdated(
            project_id=project_id,
            version=1,
            questions=questions,
            format=fmt,
            source=ontology.source if ontology is not None else None,
        ),
        MemberAdded(project_id=project_id, user_id=owner_id, role="OWNER"),
    ]


def decide_ontology(state: ProjectState, ontology: OntologyInput) -> OntologyUpdated:
    """A new ontology version; answers already given keep the version they were given under."""
    questions = questions_from_input(ontology)
    return OntologyUpdated(
        project_id=state.project_id,
        version=state.ontology_version + 1,
        questions=questions,
        format=ontology.format.upper(),
        source=ontology.source,
    )


def decide_member(state: ProjectState, user_id: str, role: str) -> list[Event]:
    """MemberAdded or MemberRoleChanged; nothing when the member already has that role."""
    if role not in PROJECT_ROLES:
        raise Invalid("unknown project role", {"role": ", ".join(PROJECT_ROLES)})
    if not user_id:
        raise Invalid("a member needs a user id", {"user_id": "required"})
    current = state.members.get(user_id)
    if current == role:
        return []
    if current is None:
        return [MemberAdded(project_id=state.project_id, user_id=user_id, role=role)]
    return [MemberRoleChanged(project_id=state.project_id, user_id=user_id, role=role)]


def decide_member_removal(state: ProjectState, user_id: str) -> list[Event]:
    """MemberRemoved; NotFound for someone who is not a member; the last owner stays (the
    project would be left to org admins alone)."""
    role = state.members.get(user_id)
    if role is None:
        raise NotFound("not a member of this project")
    if role == "OWNER" and sum(1 for r in state.members.values() if r == "OWNER") == 1:
        raise Invalid("a project keeps at least one owner", {"user_id": "the project's last owner"})
    return [MemberRemoved(project_id=state.project_id, user_id=user_id)]


def required_labels(state: ProjectState, data_row_id: str) -> int:
    """How many labels a row needs: the consensus count for ``consensus_coverage`` of the
    rows (chosen by a stable hash of the row id, so re-adding never changes it), else 1."""
    if state.quality_mode != "CONSENSUS" or state.consensus_label_count <= 1:
        return 1
    digest = hashlib.sha256(f"{state.project_id}:{data_row_id}".encode()).digest()
    fraction = int.from_bytes(digest[:8], "big") / 2**64
    return state.consensus_label_count if fraction < state.consensus_coverage else 1


def batch_event(state: ProjectState, batch_id: str, data_row_ids: list[str], priority: int) -> BatchCreated:
    return BatchCreated(project_id=state.project_id, batch_id=batch_id, data_row_ids=data_row_ids, priority=priority)
