"""The export read model: what the export needs of other services' events, in schema ``export``.

:meth:`ExportReadModel.apply` takes any number of events (the JetStream consumer passes one
at a time inside its inbox transaction; the benchmark seeds in bulk through the same code):
it loads the rows the events touch in a few queries, folds the events in memory with the
pure functions of :mod:`preflog_export.domain.item_updates`, and writes back with one
statement per table. Every changed item gets the next ``export_seq`` of its project (see the
migration for why this is gap-free), and the transaction notifies ``<ns>.export`` with the
project ids, delivered at commit, which wakes followers and feeds.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import msgspec
import structlog

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.accounts import UserCreated
from preflog_contracts.events.catalog import DataRowImported
from preflog_contracts.events.labels import LabelStarted, LabelSubmitted, TaskCreated, TaskLeased
from preflog_contracts.events.projects import (
    BatchCreated,
    MemberAdded,
    MemberRemoved,
    MemberRoleChanged,
    OntologyUpdated,
    ProjectCreated,
    ProjectSettingsChanged,
    Question,
)
from preflog_contracts.events.review import (
    BenchmarkReferenceSet,
    LabelApproved,
    LabelRejected,
    TaskStatusChanged,
)
from preflog_eventstore import Conn
from preflog_export.domain.item import ExportItem, Person
from preflog_export.domain.item_updates import (
    DataRowInfo,
    has_label,
    label_statuses,
    new_item,
    with_benchmark_reference,
    with_dropped_labels,
    with_review,
    with_scores,
    with_submitted_label,
    with_workflow_status,
)
from preflog_messaging import NotYet

log = structlog.get_logger(__name__)

HANDLED_TYPES: frozenset[str] = frozenset(
    {
        "UserCreated",
        "DataRowImported",
        "ProjectCreated",
        "OntologyUpdated",
        "ProjectSettingsChanged",
        "MemberAdded",
        "MemberRoleChanged",
        "MemberRemoved",
        "BatchCreated",
        "TaskCreated",
        "TaskLeased",
        "LabelStarted",
        "LabelSubmitted",
        "TaskStatusChanged",
        "LabelApproved",
        "LabelRejected",
        "BenchmarkReferenceSet",
    }
)
CATEGORIES: tuple[str, ...] = ("user", "datarow", "project", "task", "label", "workflow")

item_encoder = msgspec.msgpack.Encoder()
item_decoder = msgspec.msgpack.Decoder(ExportItem)
row_decoder = msgspec.msgpack.Decoder(DataRowInfo)
questions_decoder = msgspec.msgpack.Decoder(list[Question])


def changes_channel(namespace: str) -> str:
    """The Postgres NOTIFY channel carrying ids of projects whose items changed."""
    return f"{namespace}.export"


@dataclass
class _Project:
    org_id: str
    name: str = ""
    rank_mode: str = "FULL_ORDER"
    questions_blob: bytes | None = None
    _questions: list[Question] | None = None
    dirty: bool = False
    # Log positions of the events that set rank_mode and the questions: an earlier event
    # arriving later (after a crash) leaves them as they are.
    settings_position: int = 0
    questions_position: int = 0

    @property
    def questions(self) -> list[Question]:
        if self._questions is None:
            blob = self.questions_blob
            self._questions = questions_decoder.decode(blob) if blob else []
        return self._questions

    def set_questions(self, questions: list[Question]) -> None:
        self._questions = questions
        self.questions_blob = item_encoder.encode(questions)


@dataclass
class _Batch:
    """Everything one ``apply`` call reads and writes, keyed for in-memory folding."""

    projects: dict[str, _Project] = field(default_factory=dict)
    users: dict[str, tuple[str, str, str]] = field(default_factory=dict)  # id -> org, email, name
    new_users: set[str] = field(default_factory=set)
    rows: dict[str, DataRowInfo] = field(default_factory=dict)
    new_rows: dict[str, tuple[str, bytes]] = field(default_factory=dict)  # id -> org, info
    # (project, user) -> (role, None when removed; position of the event that set it)
    members: dict[tuple[str, str], tuple[str | None, int]] = field(default_factory=dict)
    batches: set[tuple[str, str]] = field(default_factory=set)
    starts: dict[str, Any] = field(default_factory=dict)
    new_starts: set[str] = field(default_factory=set)
    items: dict[tuple[str, str], ExportItem] = field(default_factory=dict)
    dirty_items: dict[tuple[str, str], None] = field(default_factory=dict)  # ordered set


class ExportReadModel:
    """Applies events to the ``export`` tables; see the module docstring."""

    def __init__(self, namespace: str) -> None:
        self.channel = changes_channel(namespace)

    async def apply(self, conn: Conn, records: Sequence[RecordedEvent]) -> set[str]:
        """Apply ``records`` in order inside the caller's transaction; returns the ids of
        projects whose items changed. Events of other types are ignored. The consumer hands
        it each fetched batch at once: the tables are read and written once per batch."""
        events = [
            (rec, decode_event_data(rec.event_type, rec.schema_version, rec.data))
            for rec in records
            if rec.event_type in HANDLED_TYPES
        ]
        if not events:
            return set()
        state = _Batch()
        await self._prefetch(conn, state, events)
        for rec, event in events:
            self._fold(state, rec, event)
        return await self._write(conn, state)

    async def _prefetch(self, conn: Conn, state: _Batch, events: list[tuple[Any, Any]]) -> None:
        project_ids: set[str] = set()
        item_keys: set[tuple[str, str]] = set()
        row_ids: set[str] = set()
        user_ids: set[str] = set()
        label_ids: set[str] = set()
        imported: set[str] = set()
        for rec, event in events:
            project_id = getattr(event, "project_id", None)
            if project_id is not None:
                project_ids.add(project_id)
            if isinstance(event, DataRowImported):
                imported.add(event.data_row_id)
            elif isinstance(event, TaskCreated):
                if event.data_row_id not in imported:
                    row_ids.add(event.data_row_id)
            elif isinstance(event, LabelSubmitted):
                item_keys.add((event.project_id, event.task_id))
                user_ids.add(event.author_id)
                label_ids.add(event.label_id)
            elif isinstance(event, LabelApproved | LabelRejected):
                item_keys.add((event.project_id, event.task_id))
                user_ids.add(rec.metadata.actor_id)
            elif isinstance(event, TaskStatusChanged | BenchmarkReferenceSet):
                item_keys.add((event.project_id, event.task_id))
        if project_ids:
            for r in await conn.fetch(
                "select project_id, org_id::text, name, rank_mode, questions, settings_position,"
                " questions_position from export.projects where project_id = any($1::text[])",
                list(project_ids),
            ):
                state.projects[r[0]] = _Project(
                    r[1], r[2], r[3], r[4], settings_position=r[5], questions_position=r[6]
                )
        if item_keys:
            projects, tasks = zip(*item_keys, strict=True)
            for r in await conn.fetch(
                "select i.project_id, i.task_id, i.item from export.items i"
                " join unnest($1::text[], $2::text[]) k(p, t)"
                " on i.project_id = k.p and i.task_id = k.t",
                list(projects),
                list(tasks),
            ):
                state.items[(r[0], r[1])] = item_decoder.decode(r[2])
        if row_ids:
            for r in await conn.fetch(
                "select data_row_id, info from export.data_rows"
                " where data_row_id = any($1::text[])",
                list(row_ids),
            ):
                state.rows[r[0]] = row_decoder.decode(r[1])
        if user_ids:
            for r in await conn.fetch(
                "select user_id, org_id::text, email, name from export.users"
                " where user_id = any($1::text[])",
                list(user_ids),
            ):
                state.users[r[0]] = (r[1], r[2], r[3])
        if label_ids:
            for r in await conn.fetch(
                "select label_id, started_at from export.label_starts"
                " where label_id = any($1::text[])",
                list(label_ids),
            ):
                state.starts[r[0]] = r[1]

    def _project(self, state: _Batch, project_id: str, org_id: str) -> _Project:
        project = state.projects.get(project_id)
        if project is None:
            # Items of a project whose creation we have not seen still need its sequence row.
            project = state.projects[project_id] = _Project(org_id, dirty=True)
        return project

    def _person(self, state: _Batch, user_id: str) -> Person:
        known = state.users.get(user_id)
        if known is None:
            return Person(id=user_id)
        return Person(id=user_id, email=known[1] or None, name=known[2] or None)

    @staticmethod
    def _settings(project: _Project, rank_mode: str, position: int) -> None:
        if position > project.settings_position:
            project.rank_mode, project.settings_position = rank_mode, position
            project.dirty = True

    @staticmethod
    def _member(
        state: _Batch, project_id: str, user_id: str, role: str | None, position: int
    ) -> None:
        """The membership as the event at ``position`` set it, unless one later in the log
        is known already (the table's row is guarded the same way when written)."""
        known = state.members.get((project_id, user_id))
        if known is None or known[1] < position:
            state.members[(project_id, user_id)] = (role, position)

    def _fold(self, state: _Batch, rec: RecordedEvent, event: Any) -> None:
        position = rec.global_position
        if isinstance(event, UserCreated):
            state.users[event.user_id] = (rec.org_id, event.email, event.name)
            state.new_users.add(event.user_id)
        elif isinstance(event, DataRowImported):
            info = DataRowInfo(
                global_key=event.global_key,
                row=event.row,
                external_id=event.external_id,
                metadata=event.metadata,
            )
            state.rows[event.data_row_id] = info
            state.new_rows[event.data_row_id] = (rec.org_id, item_encoder.encode(info))
        elif isinstance(event, ProjectCreated):
            project = self._project(state, event.project_id, rec.org_id)
            project.org_id, project.name, project.dirty = rec.org_id, event.name, True
            self._settings(project, event.settings.rank_mode, position)
            if event.owner_id:
                self._member(state, event.project_id, event.owner_id, "OWNER", position)
        elif isinstance(event, OntologyUpdated):
            project = self._project(state, event.project_id, rec.org_id)
            if position > project.questions_position:
                project.set_questions(list(event.questions))
                project.questions_position, project.dirty = position, True
        elif isinstance(event, ProjectSettingsChanged):
            project = self._project(state, event.project_id, rec.org_id)
            self._settings(project, event.settings.rank_mode, position)
        elif isinstance(event, MemberAdded | MemberRoleChanged):
            self._member(state, event.project_id, event.user_id, event.role, position)
        elif isinstance(event, MemberRemoved):
            self._member(state, event.project_id, event.user_id, None, position)
        elif isinstance(event, BatchCreated):
            state.batches.add((event.project_id, event.batch_id))
        elif isinstance(event, TaskLeased | LabelStarted):
            # The first lease, whichever arrives first (the table keeps the least).
            known = state.starts.get(event.label_id)
            if known is None or rec.recorded_at < known:
                state.starts[event.label_id] = rec.recorded_at
                state.new_starts.add(event.label_id)
        elif isinstance(event, TaskCreated):
            self._task_created(state, rec, event)
        else:
            self._item_event(state, rec, event)

    def _task_created(self, state: _Batch, rec: RecordedEvent, event: TaskCreated) -> None:
        key = (event.project_id, event.task_id)
        if key in state.items:
            return
        row = state.rows.get(event.data_row_id)
        if row is None:  # its row's import is still to come (see NotYet)
            raise NotYet(f"task {event.task_id}: data row {event.data_row_id} not seen yet")
        project = self._project(state, event.project_id, rec.org_id)
        state.items[key] = new_item(
            project_id=event.project_id,
            task_id=event.task_id,
            data_row_id=event.data_row_id,
            batch_id=event.batch_id,
            row=row,
            rank_mode=project.rank_mode,
            project_name=project.name,
        )
        state.dirty_items[key] = None

    def _item_event(self, state: _Batch, rec: RecordedEvent, event: Any) -> None:
        key = (event.project_id, event.task_id)
        item = state.items.get(key)
        if item is None:  # its TaskCreated is still to come (see NotYet)
            raise NotYet(f"{rec.event_type} of task {event.task_id}: the task not seen yet")
        position = rec.global_position
        rescore = True
        if isinstance(event, LabelSubmitted):
            started = event.leased_at or state.starts.get(event.label_id)
            item = with_submitted_label(
                item,
                label_id=event.label_id,
                author=self._person(state, event.author_id),
                snapshot=event.snapshot,
                submitted_at=rec.recorded_at,
                started_at=started,
                position=position,
            )
        elif isinstance(event, LabelApproved | LabelRejected | BenchmarkReferenceSet):
            if not has_label(item, event.label_id):  # its submission is still to come
                raise NotYet(f"{rec.event_type} of label {event.label_id}: not submitted yet")
            if isinstance(event, BenchmarkReferenceSet):
                item = with_benchmark_reference(item, event.label_id, position)
            else:
                approve = isinstance(event, LabelApproved)
                item = with_review(
                    item,
                    label_id=event.label_id,
                    action="APPROVE" if approve else "REJECT",
                    reviewer=self._person(state, rec.metadata.actor_id),
                    at=rec.recorded_at,
                    position=position,
                    comment=event.comment if isinstance(event, LabelApproved) else event.reason,
                )
        elif isinstance(event, TaskStatusChanged):
            item = with_workflow_status(item, event.to_status, position)
            rescore = bool(event.dropped_label_ids)
            if rescore:
                missing = [d for d in event.dropped_label_ids if not has_label(item, d)]
                if missing:  # their submissions are still to come
                    raise NotYet(f"drop of label {missing[0]}: not submitted yet")
                item = with_dropped_labels(item, event.dropped_label_ids)
        if rescore and len(item.labels) > 1:
            project = self._project(state, event.project_id, rec.org_id)
            item = with_scores(item, project.questions)
        state.items[key] = item
        state.dirty_items[key] = None

    async def _write(self, conn: Conn, state: _Batch) -> set[str]:
        if state.new_users:
            ids = list(state.new_users)
            await conn.execute(
                "insert into export.users (user_id, org_id, email, name)"
                " select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[])"
                " on conflict (user_id) do update set email = excluded.email, name = excluded.name",
                ids,
                [state.users[i][0] for i in ids],
                [state.users[i][1] for i in ids],
                [state.users[i][2] for i in ids],
            )
        if state.new_rows:
            ids = list(state.new_rows)
            await conn.execute(
                "insert into export.data_rows (data_row_id, org_id, info)"
                " select * from unnest($1::text[], $2::uuid[], $3::bytea[])"
                " on conflict (data_row_id) do update set info = excluded.info",
                ids,
                [state.new_rows[i][0] for i in ids],
                [state.new_rows[i][1] for i in ids],
            )
        dirty_projects = {pid: p for pid, p in state.projects.items() if p.dirty}
        if dirty_projects:
            ids = sorted(dirty_projects)
            await conn.execute(
                "insert into export.projects (project_id, org_id, name, rank_mode, questions,"
                " settings_position, questions_position)"
                " select * from unnest($1::text[], $2::uuid[], $3::text[], $4::text[], $5::bytea[],"
                " $6::bigint[], $7::bigint[])"
                " on conflict (project_id) do update set org_id = excluded.org_id,"
                " name = excluded.name, rank_mode = excluded.rank_mode,"
                " questions = excluded.questions, settings_position = excluded.settings_position,"
                " questions_position = excluded.questions_position",
                ids,
                [dirty_projects[i].org_id for i in ids],
                [dirty_projects[i].name for i in ids],
                [dirty_projects[i].rank_mode for i in ids],
                [dirty_projects[i].questions_blob for i in ids],
                [dirty_projects[i].settings_position for i in ids],
                [dirty_projects[i].questions_position for i in ids],
            )
        if state.members:
            # A removal is a row without a role, so that an earlier MemberAdded arriving
            # later (position below it) does not bring the member back.
            keys = list(state.members)
            await conn.execute(
                "insert into export.members (project_id, user_id, role, position)"
                " select * from unnest($1::text[], $2::text[], $3::text[], $4::bigint[])"
                " on conflict (project_id, user_id) do update"
                " set role = excluded.role, position = excluded.position"
                " where export.members.position < excluded.position",
                [k[0] for k in keys],
                [k[1] for k in keys],
                [state.members[k][0] for k in keys],
                [state.members[k][1] for k in keys],
            )
        if state.batches:
            keys = list(state.batches)
            await conn.execute(
                "insert into export.batches (project_id, batch_id)"
                " select * from unnest($1::text[], $2::text[]) on conflict do nothing",
                [k[0] for k in keys],
                [k[1] for k in keys],
            )
        if state.new_starts:
            ids = list(state.new_starts)
            await conn.execute(
                "insert into export.label_starts (label_id, started_at)"
                " select * from unnest($1::text[], $2::timestamptz[]) on conflict (label_id)"
                " do update set started_at = least(export.label_starts.started_at,"
                " excluded.started_at)",
                ids,
                [state.starts[i] for i in ids],
            )
        if not state.dirty_items:
            return set()
        return await self._write_items(conn, state)

    async def _write_items(self, conn: Conn, state: _Batch) -> set[str]:
        per_project: dict[str, int] = {}
        for project_id, _ in state.dirty_items:
            per_project[project_id] = per_project.get(project_id, 0) + 1
        ordered = sorted(per_project)
        # Lock the sequence rows in a fixed order (two writers never wait on each other in
        # a cycle), then reserve a block of numbers per project.
        await conn.execute(
            "select 1 from export.projects where project_id = any($1::text[])"
            " order by project_id for update",
            ordered,
        )
        last: dict[str, int] = dict(
            await conn.fetch(  # type: ignore[arg-type]
                "update export.projects p set last_seq = p.last_seq + u.n"
                " from unnest($1::text[], $2::bigint[]) u(id, n) where p.project_id = u.id"
                " returning p.project_id, p.last_seq",
                ordered,
                [per_project[p] for p in ordered],
            )
        )
        next_seq = {p: last[p] - per_project[p] + 1 for p in ordered}
        projects, tasks, seqs, batches, statuses, blobs = [], [], [], [], [], []
        for key in state.dirty_items:
            item = state.items[key]
            projects.append(key[0])
            tasks.append(key[1])
            seqs.append(next_seq[key[0]])
            next_seq[key[0]] += 1
            batches.append(item.batch_id)
            statuses.append(",".join(label_statuses(item)))
            blobs.append(item_encoder.encode(item))
        await conn.execute(
            "insert into export.items"
            " (project_id, task_id, export_seq, batch_id, label_statuses, item)"
            " select p, t, s, b, coalesce(string_to_array(nullif(l, ''), ','), '{}'), i"
            " from unnest("
            " $1::text[], $2::text[], $3::bigint[], $4::text[], $5::text[], $6::bytea[])"
            " u(p, t, s, b, l, i)"
            " on conflict (project_id, task_id) do update set export_seq = excluded.export_seq,"
            " batch_id = excluded.batch_id, label_statuses = excluded.label_statuses,"
            " item = excluded.item",
            projects,
            tasks,
            seqs,
            batches,
            statuses,
            blobs,
        )
        await conn.execute(
            "select pg_notify($1, p) from unnest($2::text[]) p", self.channel, ordered
        )
        return set(ordered)
