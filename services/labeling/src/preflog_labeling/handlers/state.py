"""Loading write-side state: projects and labels folded from their streams, data rows.

Folded states are cached per process with the stream version they reflect; each load reads
only the events after that version, so a state is never stale when a decision is made, and
the optimistic append (expected version) catches any writer in between.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Generic, TypeVar

import asyncpg
import msgspec
from asyncpg.pool import PoolConnectionProxy

from preflog_contracts.datarow import DataRow
from preflog_contracts.envelope import RecordedEvent, stream_name
from preflog_contracts.errors import NotFound
from preflog_contracts.events import decode_event_data
from preflog_eventstore import EventStore
from preflog_labeling.domain import label as label_domain
from preflog_labeling.domain import project as project_domain
from preflog_messaging.rpc import RpcClient
from preflog_settings import Settings

Conn = asyncpg.Connection | PoolConnectionProxy
"""A connection, pooled or not."""

K = TypeVar("K")
V = TypeVar("V")

_row_decoder = msgspec.json.Decoder(DataRow)
_any_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


class Lru(Generic[K, V]):
    """A small bounded cache (most recently used kept)."""

    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K) -> V | None:
        value = self._items.get(key)
        if value is not None:
            self._items.move_to_end(key)
        return value

    def pop(self, key: K) -> None:
        self._items.pop(key, None)

    def put(self, key: K, value: V) -> None:
        self._items[key] = value
        self._items.move_to_end(key)
        while len(self._items) > self.size:
            self._items.popitem(last=False)


def version_sql(category: str, key: str) -> str:
    """SQL for the current version of stream ``<category>-<key>``, ``key`` a column
    expression (null: no such stream). Read beside a row, it says whether a state cached at
    some version is still current."""
    return f"(select max(e.stream_position) from eventlog.events e where e.stream_name = '{category}-' || {key})"


ROW_COLUMNS = (
    "d.data_row_id as row_id, d.org_id::text as row_org_id, d.dataset_id as row_dataset_id,"
    " d.global_key as row_global_key, d.external_id as row_external_id, d.row::text as row,"
    " d.metadata::text as row_metadata, d.created_at as row_created_at"
)
"""A data row's columns (``labeling.data_rows d``) as ``Deps.remember_row`` reads them."""


def fold_label(state: label_domain.LabelState, recs: Sequence[RecordedEvent]) -> label_domain.LabelState:
    """``state`` after the label's events ``recs`` (read from its stream, in order)."""
    return label_domain.fold(
        state,
        [
            (
                r.stream_position,
                r.event_id,
                decode_event_data(r.event_type, r.schema_version, r.data),
                r.recorded_at,
                r.metadata.actor_id,
            )
            for r in recs
        ],
    )


@dataclass(frozen=True)
class RowRecord:
    data_row_id: str
    org_id: str
    dataset_id: str
    global_key: str
    external_id: str | None
    row: DataRow
    metadata: dict[str, Any]
    created_at: datetime


@dataclass
class Deps:
    """What every handler needs; one per process."""

    store: EventStore
    pool: asyncpg.Pool
    settings: Settings
    rpc: RpcClient | None = None
    """For asking other services (ingest, about rows it has that we have yet to learn)."""
    projects: Lru[str, tuple[str, project_domain.ProjectState]] = field(default_factory=lambda: Lru(10_000))
    labels: Lru[str, tuple[str, label_domain.LabelState]] = field(default_factory=lambda: Lru(50_000))
    rows: Lru[str, RowRecord] = field(default_factory=lambda: Lru(50_000))
    facts: Lru[tuple[str, str, str], Any] = field(default_factory=lambda: Lru(50_000))
    """(org, task, user) -> the facts of that caller's last action on the task (actions.py)."""

    async def project(
        self, project_id: str, org_id: str, conn: Conn | None = None, until: datetime | None = None
    ) -> project_domain.ProjectState:
        """The project's current state (or as of ``until``); NotFound outside the caller's org."""
        cached = None if until is not None else self.projects.get(project_id)
        if cached is not None and cached[0] != org_id:
            raise NotFound("project not found")
        state = cached[1] if cached is not None else project_domain.ProjectState(project_id=project_id)
        recs = await self.store.read_stream(
            stream_name("project", project_id),
            after_position=state.version,
            org_id=org_id,
            conn=conn,
            until=until,
            types=project_domain.FOLDED,
        )
        if recs:
            state = project_domain.fold(
                state, [(r.stream_position, decode_event_data(r.event_type, r.schema_version, r.data)) for r in recs]
            )
        if not state.exists:
            raise NotFound("project not found")
        if until is None:
            self.projects.put(project_id, (org_id, state))
        return state

    async def current_projects(self, project_ids: list[str], org_id: str) -> dict[str, project_domain.ProjectState]:
        """The cached states of ``project_ids`` that are at their stream's version now (one
        statement for all the versions); the others are left out, for the caller to load."""
        if not project_ids:
            return {}
        rows = await self.pool.fetch(
            f"select p, {version_sql('project', 'p')} from unnest($1::text[]) as u(p)", project_ids
        )
        found = {}
        for project_id, version in rows:
            state = self.cached_project(project_id, org_id, version)
            if state is not None:
                found[project_id] = state
        return found

    def known_project(self, project_id: str, org_id: str) -> project_domain.ProjectState | None:
        """The cached state at whatever version it is (for a decision whose append guards the
        project stream at that version); None if not cached or another org's."""
        hit = self.projects.get(project_id)
        return hit[1] if hit is not None and hit[0] == org_id else None

    def cached_project(self, project_id: str, org_id: str, version: int | None) -> project_domain.ProjectState | None:
        """The cached state if it is at ``version`` (the stream's current version), else None."""
        hit = self.projects.get(project_id)
        if hit is None or hit[0] != org_id or version is None or hit[1].version != version:
            return None
        return hit[1]

    def cached_label(self, label_id: str, org_id: str, version: int | None) -> label_domain.LabelState | None:
        hit = self.labels.get(label_id)
        if hit is None or hit[0] != org_id or version is None or hit[1].version != version:
            return None
        return hit[1]

    def remember_project(self, org_id: str, state: project_domain.ProjectState) -> None:
        self.projects.put(state.project_id, (org_id, state))

    async def label(
        self, label_id: str, org_id: str, conn: Conn | None = None, until: datetime | None = None
    ) -> label_domain.LabelState:
        cached = None if until is not None else self.labels.get(label_id)
        if cached is not None and cached[0] != org_id:
            raise NotFound("label not found")
        state = cached[1] if cached is not None else label_domain.LabelState(label_id=label_id)
        recs = await self.store.read_stream(
            stream_name("label", label_id), after_position=state.version, org_id=org_id, conn=conn, until=until
        )
        state = fold_label(state, recs)
        if not state.started:
            raise NotFound("label not found")
        if until is None:
            self.labels.put(label_id, (org_id, state))
        return state

    def remember_label(self, org_id: str, state: label_domain.LabelState) -> None:
        self.labels.put(state.label_id, (org_id, state))

    async def data_rows(self, ids: list[str], org_id: str, conn: Conn | None = None) -> dict[str, RowRecord]:
        """The rows of ``ids`` this org has (immutable, so cached); missing ids are left out."""
        out: dict[str, RowRecord] = {}
        missing = []
        for i in ids:
            hit = self.rows.get(i)
            if hit is None:
                missing.append(i)
            elif hit.org_id == org_id:
                out[i] = hit
        if missing:
            db = conn if conn is not None else self.pool
            rows = await db.fetch(
                f"select {ROW_COLUMNS} from labeling.data_rows d"
                " where d.data_row_id = any($1::text[]) and d.org_id = $2",
                missing,
                org_id,
            )
            for r in rows:
                rec = self.remember_row(r)
                out[rec.data_row_id] = rec
        return out

    def remember_row(self, r: asyncpg.Record) -> RowRecord:
        """The row in a record of ``ROW_COLUMNS`` (cached: rows never change)."""
        rec = RowRecord(
            r["row_id"],
            r["row_org_id"],
            r["row_dataset_id"],
            r["row_global_key"],
            r["row_external_id"],
            _row_decoder.decode(r["row"]),
            _any_decoder.decode(r["row_metadata"]),
            r["row_created_at"],
        )
        self.rows.put(rec.data_row_id, rec)
        return rec

    async def data_row(self, data_row_id: str, org_id: str, conn: Conn | None = None) -> RowRecord:
        found = await self.data_rows([data_row_id], org_id, conn)
        if data_row_id not in found:
            raise NotFound("data row not found")
        return found[data_row_id]
