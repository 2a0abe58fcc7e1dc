"""Read models of labeling's own events, kept by ProjectionRunner (exactly once, rebuildable).

- ``labeling_labels``: each label's folded state and its ready-to-serve view.
- ``labeling_projects``: the project index and members, for listing a user's projects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from preflog_contracts.envelope import RecordedEvent, stream_name
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.projects import (
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    ProjectArchived,
    ProjectCreated,
    ProjectUnarchived,
)
from preflog_eventstore import EventStore
from preflog_labeling.adapters.consumers import learn_workflow
from preflog_labeling.domain import label as label_domain
from preflog_labeling.domain.label_view import label_view
from preflog_labeling.handlers.state import Lru, fold_label

_json = msgspec.json.Encoder()

Conn = asyncpg.Connection | PoolConnectionProxy


class LabelProjection:
    """Each label's view, folded from its stream. The states it folds are kept in memory (the
    runner says when they are committed, and when the table may hold others); a label it has
    not folded, or not up to the batch, is folded from its stream in the log first. The table
    keeps only the view: a folded state with every action was several kilobytes of JSON
    rewritten on every action, for this runner's cache misses alone."""

    name = "labeling_labels"
    categories: Sequence[str] | None = ("label",)
    tables: Sequence[str] = ("labeling.labels",)

    def __init__(self, store: EventStore, cache_size: int = 20_000) -> None:
        self.store = store
        self._written: Lru[str, label_domain.LabelState] = Lru(cache_size)
        self._pending: dict[str, label_domain.LabelState] = {}
        self._replayed: Lru[str, label_domain.LabelState] = Lru(cache_size)
        """States a rebuild folded into its shadow table (never the live table's)."""

    def committed(self) -> None:
        for label_id, state in self._pending.items():
            self._written.put(label_id, state)
        self._pending = {}

    def forget(self) -> None:
        self._written = Lru(self._written.size)
        self._pending = {}
        self._replayed = Lru(self._replayed.size)

    async def _state_before(
        self, conn: Conn, label_id: str, org_id: str, known: label_domain.LabelState | None, position: int
    ) -> label_domain.LabelState:
        """The label folded up to just before ``position``, from ``known`` (folded short of it)."""
        state = known or label_domain.LabelState(label_id=label_id)
        if state.version + 1 == position:
            return state
        recs = await self.store.read_stream(
            stream_name("label", label_id), after_position=state.version, org_id=org_id, conn=conn
        )
        return fold_label(state, [r for r in recs if r.stream_position < position])

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent], tables_map: Mapping[str, str]) -> None:
        table = tables_map["labeling.labels"]
        live = table == "labeling.labels"
        cache = self._written if live else self._replayed
        by_label: dict[str, list[RecordedEvent]] = {}
        for rec in events:
            by_label.setdefault(rec.stream_id, []).append(rec)
        out = []
        for label_id, recs in by_label.items():
            known = self._pending.get(label_id) if live else None
            known = known or cache.get(label_id)
            if known is not None and known.version >= recs[-1].stream_position:
                continue  # already folded (a rebuild overlapping the live table)
            recs = [r for r in recs if known is None or r.stream_position > known.version]
            state = await self._state_before(conn, label_id, recs[0].org_id, known, recs[0].stream_position)
            for rec in recs:
                event = decode_event_data(rec.event_type, rec.schema_version, rec.data)
                state = label_domain.evolve(state, rec.event_id, event, rec.recorded_at, rec.metadata.actor_id)
                state = msgspec.structs.replace(state, version=rec.stream_position)
            if live:
                self._pending[label_id] = state
            else:
                cache.put(label_id, state)
            out.append(
                (
                    label_id,
                    recs[0].org_id,
                    state.task_id,
                    state.project_id,
                    state.author_id,
                    state.version,
                    _json.encode(label_view(state)).decode(),
                    state.updated_at or recs[-1].recorded_at,
                )
            )
        if not out:
            return
        # One statement for the batch (executemany runs the statement once per label).
        await conn.execute(
            f"insert into {table} (label_id, org_id, task_id, project_id, author_id, version, view, updated_at)"
            " select l, o::uuid, t, p, a, v, w::jsonb, u from unnest($1::text[], $2::text[], $3::text[],"
            " $4::text[], $5::text[], $6::bigint[], $7::text[], $8::timestamptz[]) as r(l, o, t, p, a, v, w, u)"
            " on conflict (label_id) do update set"
            " task_id = excluded.task_id, project_id = excluded.project_id, author_id = excluded.author_id,"
            " version = excluded.version, view = excluded.view, updated_at = excluded.updated_at",
            *(list(column) for column in zip(*out, strict=True)),
        )


class ProjectIndexProjection:
    name = "labeling_projects"
    categories: Sequence[str] | None = ("project",)
    tables: Sequence[str] = ("labeling.projects", "labeling.project_members")

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent], tables_map: Mapping[str, str]) -> None:
        projects = tables_map["labeling.projects"]
        members = tables_map["labeling.project_members"]
        for rec in events:
            if rec.event_type not in (
                "ProjectCreated",
                "MemberAdded",
                "MemberRoleChanged",
                "MemberRemoved",
                "ProjectArchived",
                "ProjectUnarchived",
            ):
                continue
            event = decode_event_data(rec.event_type, rec.schema_version, rec.data)
            if isinstance(event, ProjectCreated):
                await conn.execute(
                    f"insert into {projects} (project_id, org_id, name, created_at) values ($1, $2, $3, $4)"
                    " on conflict (project_id) do nothing",
                    event.project_id,
                    rec.org_id,
                    event.name,
                    rec.recorded_at,
                )
            elif isinstance(event, MemberAdded | MemberRoleChanged):
                await conn.execute(
                    f"insert into {members} (project_id, user_id, org_id, role) values ($1, $2, $3, $4)"
                    " on conflict (project_id, user_id) do update set role = excluded.role",
                    event.project_id,
                    event.user_id,
                    rec.org_id,
                    event.role,
                )
            elif isinstance(event, MemberRemoved):
                await conn.execute(
                    f"delete from {members} where project_id = $1 and user_id = $2", event.project_id, event.user_id
                )
            elif isinstance(event, ProjectArchived | ProjectUnarchived):
                await conn.execute(
                    f"update {projects} set archived = $2 where project_id = $1",
                    event.project_id,
                    isinstance(event, ProjectArchived),
                )


class WorkflowProjection:
    """Review's task status changes and label decisions into the queue tables.

    It updates rows the command handlers also write (tasks.status, assignments.label_status),
    so it has no tables of its own to rebuild; it only moves forward.
    """

    name = "labeling_workflow"
    categories: Sequence[str] | None = ("workflow",)
    tables: Sequence[str] = ()

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent], tables_map: Mapping[str, str]) -> None:
        for rec in events:
            await learn_workflow(conn, rec)
