"""Read models of labeling's own events, kept by ProjectionRunner (exactly once, rebuildable).

- ``labeling_labels``: each label's folded state and its ready-to-serve view.
- ``labeling_projects``: the project index and members, for listing a user's projects.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.projects import MemberAdded, MemberRoleChanged, ProjectArchived, ProjectCreated
from preflog_labeling.adapters.consumers import learn_workflow
from preflog_labeling.domain import label as label_domain
from preflog_labeling.domain.label_view import label_view
from preflog_labeling.handlers.state import Lru

_json = msgspec.json.Encoder()

Conn = asyncpg.Connection | PoolConnectionProxy


class LabelProjection:
    """Each label's folded state and view. The states it wrote are kept in memory (the
    runner says when they are committed, and when the table may hold others), so a batch
    reads from the table only the labels it has not written itself."""

    name = "labeling_labels"
    categories: Sequence[str] | None = ("label",)
    tables: Sequence[str] = ("labeling.labels",)

    def __init__(self, cache_size: int = 20_000) -> None:
        self._written: Lru[str, label_domain.LabelState] = Lru(cache_size)
        self._pending: dict[str, label_domain.LabelState] = {}

    def committed(self) -> None:
        for label_id, state in self._pending.items():
            self._written.put(label_id, state)
        self._pending = {}

    def forget(self) -> None:
        self._written = Lru(self._written.size)
        self._pending = {}

    async def apply(self, conn: Conn, events: Sequence[RecordedEvent], tables_map: Mapping[str, str]) -> None:
        table = tables_map["labeling.labels"]
        live = table == "labeling.labels"
        by_label: dict[str, list[RecordedEvent]] = {}
        for rec in events:
            by_label.setdefault(rec.stream_id, []).append(rec)
        states: dict[str, label_domain.LabelState] = {}
        if live:
            for label_id in by_label:
                hit = self._written.get(label_id)
                if hit is not None:
                    states[label_id] = hit
        missing = [label_id for label_id in by_label if label_id not in states]
        if missing:
            rows = await conn.fetch(
                f"select label_id, state::text from {table} where label_id = any($1::text[])", missing
            )
            states.update((r[0], label_domain.decode_state(r[1])) for r in rows)
        out = []
        for label_id, recs in by_label.items():
            state = states.get(label_id) or label_domain.LabelState(label_id=label_id)
            for rec in recs:
                if rec.stream_position <= state.version:
                    continue  # already folded (a rebuild overlapping the live table)
                event = decode_event_data(rec.event_type, rec.schema_version, rec.data)
                state = label_domain.evolve(state, rec.event_id, event, rec.recorded_at, rec.metadata.actor_id)
                state = msgspec.structs.replace(state, version=rec.stream_position)
            if live:
                self._pending[label_id] = state
            view = label_view(state)
            out.append(
                (
                    label_id,
                    recs[0].org_id,
                    state.task_id,
                    state.project_id,
                    state.author_id,
                    state.version,
                    label_domain.encode_state(state).decode(),
                    _json.encode(view).decode(),
                    state.updated_at or recs[-1].recorded_at,
                )
            )
        if not out:
            return
        # One statement for the batch (executemany runs the statement once per label).
        await conn.execute(
            f"insert into {table} (label_id, org_id, task_id, project_id, author_id, version, state, view, updated_at)"
            " select l, o::uuid, t, p, a, v, s::jsonb, w::jsonb, u from unnest($1::text[], $2::text[], $3::text[],"
            " $4::text[], $5::text[], $6::bigint[], $7::text[], $8::text[], $9::timestamptz[]) as r(l, o, t, p, a, v,"
            " s, w, u) on conflict (label_id) do update set"
            " task_id = excluded.task_id, project_id = excluded.project_id, author_id = excluded.author_id,"
            " version = excluded.version, state = excluded.state, view = excluded.view,"
            " updated_at = excluded.updated_at",
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
            if rec.event_type not in ("ProjectCreated", "MemberAdded", "MemberRoleChanged", "ProjectArchived"):
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
            elif isinstance(event, ProjectArchived):
                await conn.execute(f"update {projects} set archived = true where project_id = $1", event.project_id)


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
