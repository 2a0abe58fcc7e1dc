"""Append to and read from the event log.

Appends are optimistic: each stream write names the version it expects, and the unique
``(stream_name, stream_position)`` turns a concurrent writer into
:class:`~preflog_contracts.errors.WrongExpectedVersion`. Repeated event ids and command
idempotency keys are not errors: the first stored result is returned and nothing is appended.

A key answers for ``IDEMPOTENCY_WINDOW`` after its first use; after that it is new again
(its old row is overwritten by the next use, or pruned: ``prune_idempotency_keys``).

Reads in commit order use the gap-safe ``(tx_id, global_position)`` cursor and only see
transactions older than every still-running one, so a late commit is never skipped.
"""

from __future__ import annotations

import asyncio
import functools
import re
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import asyncpg
import msgspec

from preflog_contracts.envelope import Cursor, Metadata, RecordedEvent
from preflog_contracts.errors import Conflict, WrongExpectedVersion
from preflog_contracts.events.base import Event, encode_event
from preflog_eventstore.conn import Conn

ANY: Final = -2
"""Expected version meaning: append at the end, whatever the stream's version."""
NO_STREAM: Final = -1
"""Expected version meaning: the stream must not exist yet."""

_POSITION_KEY = "events_stream_name_stream_position_key"
_EVENT_ID_KEY = "events_event_id_key"
_GROUP_MAX_EVENTS_PER_COMMAND = 4

IDEMPOTENCY_WINDOW: Final = timedelta(hours=24)
"""How long an idempotency key answers with its first result (API.md, "Idempotency"). An
older key counts as never used: its command runs again and its new result replaces the old."""
# Every statement that reads or writes a key compares its age with the database's clock
# (``now()``), and all with this one interval: a key is live in all of them or in none.
_KEY_WINDOW = f"interval '{int(IDEMPOTENCY_WINDOW.total_seconds())} seconds'"
_KEY_LIVE = f"created_at > now() - {_KEY_WINDOW}"
_KEY_EXPIRED = f"created_at <= now() - {_KEY_WINDOW}"


def _keep_key_sql(org: str, actor: str, key: str, result: str) -> str:
    """The insert of a key's row (the given SQL expressions), returning 1 when it stored the
    result: the key was never used, or its row has expired and is overwritten. A live row is
    left as it is (and returns nothing); one written by a transaction still running is waited
    for, then judged as it committed."""
    return (
        "insert into eventlog.idempotency as kept (org_id, actor_id, key, result)"
        f" values ({org}, {actor}, {key}, {result}::jsonb)"
        " on conflict (org_id, actor_id, key) do update"
        " set result = excluded.result, created_at = excluded.created_at"
        f" where kept.{_KEY_EXPIRED} returning 1"
    )


# Positions are computed in SQL from each stream's current version; a stream not at its
# expected version (-2 = any) makes the statement raise. Caller-chosen event ids that exist
# already make it insert nothing (a repeat), as does an idempotency key used within its window.
_APPEND_CTES = """
  cur as (
    select w.stream_name, w.expected,
           coalesce((select max(e.stream_position) from eventlog.events e
                     where e.stream_name = w.stream_name), -1) as version
      from unnest($1::text[], $2::bigint[]) as w(stream_name, expected){locked}),
  ok as (
    select case
             when {gate} then false
             when cardinality($11::uuid[]) > 0 and eventlog.events_exist($11::uuid[])
               then false
             when bool_and(expected = -2 or expected = version) then true
             else eventlog.wrong_expected_version()
           end as ok,
           -- The transaction's id, assigned here if it has none yet: before any of its
           -- positions is drawn (ok is computed before the insert's first row), which
           -- bounds a project's catch-up read (see read_all_where).
           pg_current_xact_id() as xid
      from cur)"""
_APPEND_INSERT = """
insert into eventlog.events
  (stream_name, stream_position, event_type, schema_version, org_id, data, metadata, event_id)
select r.s, cur.version + 1 + r.off, r.t, r.v, ($9::uuid[])[r.k], r.d::jsonb,
       (($10::text[])[r.k])::jsonb, r.i
  from unnest($3::text[], $4::bigint[], $5::text[], $6::smallint[], $7::text[], $8::uuid[],
              $12::int[])
         with ordinality as r(s, off, t, v, d, i, k, n)
  join cur on cur.stream_name = r.s
  cross join ok
 where ok.ok
 order by r.n
returning event_id::text, stream_name, stream_position, global_position
"""
_IDEMPOTENCY_CTE = f" idem as ({_keep_key_sql('($9::uuid[])[1]', '$13', '$14', '$15')}),"
_BASE_ARGS = 12
_IDEMPOTENCY_ARGS = 3
_PARAMETER = re.compile(r"\$(\d+)")


@dataclass(frozen=True)
class Effect:
    """A write to the caller's own tables that commits exactly when the append does, in the
    append's own statement (one round trip, no transaction to open and close).

    ``sql`` is one data-modifying statement with parameters ``$1``.. for ``args``; it must
    keep ``{appended}`` among its conditions, which is false when the append writes nothing
    (a repeat). It should touch rows by their keys only (a scalar ``= $n`` on a unique
    index): the statement is prepared once and keeps its generic plan (ADR 0012). Effects
    of one append must touch different rows: they see the table as it was before the
    statement, not each other's changes. An append with effects is never merged with others
    (group commit).
    """

    sql: str
    args: tuple[Any, ...] = ()


@dataclass(frozen=True)
class Lock:
    """Rows of the caller's own tables that the append locks before it writes any event.

    ``sql`` is one ``select ... for update`` with parameters ``$1``.. for ``args``, by keys
    only (as an :class:`Effect`). A transaction that locks a row and then appends to a
    stream, and an append that writes that stream and then updates the row (an effect runs
    after the events are written), take the row lock and the stream's next position in
    opposite orders and can deadlock: with the row locked first, both take them in one
    order. An append with locks is never merged with others (group commit).
    """

    sql: str
    args: tuple[Any, ...] = ()


def _renumbered(sql: str, offset: int) -> str:
    """``sql`` with each parameter ``$n`` made ``$(n + offset)``."""
    return _PARAMETER.sub(lambda m: f"${int(m.group(1)) + offset}", sql)


@functools.lru_cache(maxsize=64)
def _append_sql(
    idempotent: bool,
    effects: tuple[tuple[str, int], ...] = (),
    locks: tuple[tuple[str, int], ...] = (),
) -> str:
    """The append statement, with each lock and then each effect (its SQL and number of
    arguments) as a CTE numbered after the append's own parameters. A lock's rows are
    counted where the stream versions are read, so they are locked before any insert.
    Cached: a call site's effects and locks have one shape."""
    locked = " and ".join(f"(select count(*) from lock_{i}) >= 0" for i in range(len(locks)))
    ctes = _APPEND_CTES.format(
        gate="not exists (select 1 from idem)" if idempotent else "false",
        locked=f" where {locked}" if locked else "",
    )
    taken = _BASE_ARGS + (_IDEMPOTENCY_ARGS if idempotent else 0)
    parts = ["with", _IDEMPOTENCY_CTE if idempotent else ""]
    for i, (sql, args) in enumerate(locks):
        parts.append(f" lock_{i} as ({_renumbered(sql, taken)}),")
        taken += args
    parts.append(ctes)
    for i, (sql, args) in enumerate(effects):
        body = _renumbered(sql, taken)
        parts.append(f",\n  effect_{i} as ({body.replace('{appended}', '(select ok from ok)')})")
        taken += args
    return "".join(parts) + _APPEND_INSERT


_ANY_RETRIES = 20

_meta_encoder = msgspec.json.Encoder()
_meta_decoder = msgspec.json.Decoder(Metadata)
_result_decoder: msgspec.json.Decoder[Any] = msgspec.json.Decoder()


@dataclass(frozen=True)
class StreamWrite:
    """Events to append to one stream, at ``expected_version`` (last position, or ANY/NO_STREAM).

    With no events it is a guard: the append commits only if that stream is still at
    ``expected_version`` (a decision taken on state read from it stays valid), and nothing
    is written to it. Commands merged by group commit may share guards, not written streams.
    """

    stream_name: str
    events: Sequence[Event]
    expected_version: int = ANY
    event_ids: Sequence[str] | None = None
    new_ids: bool = False
    """The ``event_ids`` were just made (uuid4) by a caller that needs them before the append,
    so they cannot be a repeat and the append does not look for them in the log. That lookup
    is a function call Postgres plans on every append (about a tenth of its CPU under the
    labeling benchmark). An id that were in the log after all still fails the unique key."""


class AppendedEvent(msgspec.Struct, frozen=True, array_like=True):
    event_id: str
    stream_name: str
    stream_position: int
    global_position: int


class AppendResult(msgspec.Struct, frozen=True, kw_only=True):
    events: list[AppendedEvent]
    duplicate: bool = False
    """True when nothing was appended because the event ids or idempotency key were seen before."""
    result: Any = None
    """The command result stored with the idempotency key (the first one, on a repeat)."""

    def version(self, stream: str) -> int:
        """The stream's version after this append (-1 if this append did not touch it)."""
        return max((e.stream_position for e in self.events if e.stream_name == stream), default=-1)


class _DuplicateEvents(Exception):
    pass


# Postgres builds the batch as one JSON array and msgspec decodes it in one call: about twice
# the rate of building a Python object per row (measured in the catch-up read benchmark).
_ENVELOPE_JSON = (
    "json_build_object('global_position', global_position,"
    " 'tx_id', tx_id::text::bigint, 'stream_name', stream_name,"
    " 'stream_position', stream_position, 'event_type', event_type,"
    " 'schema_version', schema_version, 'org_id', org_id, 'event_id', event_id,"
    " 'data', data, 'metadata', metadata, 'recorded_at', recorded_at)"
)
_batch_decoder = msgspec.json.Decoder(list[RecordedEvent])


def _events_sql(where: str, order: str, limit_arg: str) -> str:
    return (
        f"select coalesce(json_agg({_ENVELOPE_JSON} order by {order}), '[]')::text"
        f" from (select * from eventlog.events where {where} order by {order} limit {limit_arg}) e"
    )


# Events after a cursor in commit order, of transactions older than any still running.
_AFTER_CURSOR = (
    "(tx_id, global_position) > ($1::text::xid8, $2)"
    " and tx_id < pg_snapshot_xmin(pg_current_snapshot())"
)

# One stream's events after a position, up to a time, in one org. The org test is written so
# that no plan can use the org index for it: a connection's cached generic plan once combined
# that index with the stream's, reading the whole org's trail to return one stream.
_STREAM_WHERE = (
    "stream_name = $1 and stream_position > $2"
    " and ($3::timestamptz is null or recorded_at <= $3)"
    " and coalesce(org_id = $4::uuid, true)"
)
# ... of the given types ($5), or the stream's last (up to the time, if given).
_OF_TYPES_OR_LAST = (
    " and (event_type = any($5::text[]) or stream_position = (select max(l.stream_position)"
    " from eventlog.events l where l.stream_name = $1"
    " and ($3::timestamptz is null or l.recorded_at <= $3)))"
)

# Several streams' events in one org, by the streams' index (the org test as in _STREAM_WHERE).
_STREAMS_WHERE = "stream_name = any($1::text[]) and coalesce(org_id = $2::uuid, true)"


async def _fetch_events(
    db: Any, where: str, order: str, args: list[Any], limit_arg: str
) -> list[RecordedEvent]:
    text = await db.fetchval(_events_sql(where, order, limit_arg), *args)
    events: list[RecordedEvent] = _batch_decoder.decode(text)
    return events


# The window's rows are read once, in commit order, and only the selected ones are turned
# into JSON (the others' data is never detoasted). Looking the selected ones up again by
# position, as this once did, let a generic plan made on a small log hash-join them against a
# sequential scan of the whole log (ADR 0012).
_WINDOW_SQL = f"""
with w as materialized (
  select global_position, tx_id, stream_name, stream_position, event_type, schema_version,
         org_id, event_id, data, metadata, recorded_at, category
    from eventlog.events
   where (tx_id, global_position) > ($1::text::xid8, $2)
     and tx_id < pg_snapshot_xmin(pg_current_snapshot())
   order by tx_id, global_position limit $3),
last as (select tx_id::text::bigint as tx, global_position from w
          order by tx_id desc, global_position desc limit 1)
select (select count(*) from w), (select tx from last), (select global_position from last),
       (select coalesce(json_agg({_ENVELOPE_JSON} order by tx_id, global_position), '[]')::text
          from w where $4::text[] is null or category = any($4::text[]))
"""


@dataclass(frozen=True)
class Window:
    """One step of a windowed read: the selected events, how many were scanned, and the
    cursor after the last scanned one (None when there was nothing new)."""

    events: list[RecordedEvent]
    scanned: int
    end: Cursor | None


@dataclass(frozen=True)
class _Command:
    writes: list[StreamWrite]
    org_id: str
    metadata: Metadata
    effects: Sequence[Effect] = ()
    locks: Sequence[Lock] = ()


class _GroupCommit:
    """Merges appends that arrive while a statement is in flight into the next statement.

    Every statement costs a round trip and a Python call whatever its size, and here a socket
    write is expensive; 32 concurrent single-event appenders mostly wait on each other's
    writes. While a group is being committed, new commands queue; then they go together
    (streams disjoint, at most ``max_group`` commands). A group in which any stream moved is
    retried command by command, so each caller gets exactly its own outcome.

    At most ``max_in_flight`` statements run at once. Two (one filling while one commits)
    measured best: with 8, groups stayed near one command and each append cost its own round
    trip (32 single-event writers, same runs: 0.44 of pgbench with 2, 0.30 with 8; the
    labeling bench 540 -> 580-620 actions/s and its read-model lag p99 under 200 ms).
    """

    def __init__(self, store: EventStore, max_group: int = 64, max_in_flight: int = 2) -> None:
        self.store = store
        self.max_group = max_group
        self._queue: list[tuple[_Command, asyncio.Future[AppendResult]]] = []
        self._tasks: set[asyncio.Future[None]] = set()
        self._in_flight = 0
        self.max_in_flight = max_in_flight

    async def submit(self, command: _Command) -> AppendResult:
        future: asyncio.Future[AppendResult] = asyncio.get_running_loop().create_future()
        self._queue.append((command, future))
        if self._in_flight < self.max_in_flight:
            self._launch()
        return await future

    def _launch(self) -> None:
        group: list[tuple[_Command, asyncio.Future[AppendResult]]] = []
        streams: set[str] = set()
        rest: list[tuple[_Command, asyncio.Future[AppendResult]]] = []
        guarded: set[str] = set()
        for item in self._queue:
            written = {w.stream_name for w in item[0].writes if w.events}
            guards = {w.stream_name for w in item[0].writes if not w.events}
            if (
                len(group) < self.max_group
                and not written & (streams | guarded)
                and not guards & streams
            ):
                group.append(item)
                streams |= written
                guarded |= guards
            else:
                rest.append(item)
        self._queue = rest
        if group:
            self._in_flight += 1
            task = asyncio.ensure_future(self._commit(group))
            self._tasks.add(task)  # keep a reference until it is done
            task.add_done_callback(self._tasks.discard)

    async def _commit(self, group: list[tuple[_Command, asyncio.Future[AppendResult]]]) -> None:
        try:
            outcomes = await self.store._append_group([c for c, _ in group])
        except Exception as exc:
            outcomes = [exc] * len(group)
        finally:
            self._in_flight -= 1
        for (_, future), outcome in zip(group, outcomes, strict=True):
            if future.done():
                continue
            if isinstance(outcome, Exception):
                future.set_exception(outcome)
            else:
                future.set_result(outcome)
        if self._queue and self._in_flight < self.max_in_flight:
            self._launch()


@dataclass
class EventStore:
    """The one way to write and read the log. Safe to share across tasks."""

    pool: asyncpg.Pool
    on_append: list[Callable[[frozenset[str]], None]] = field(default_factory=list)
    """Called after each commit with the categories it wrote to; in-process readers use it
    to wake without polling (and to stay asleep when nothing of theirs was written)."""
    _grouper: _GroupCommit = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._grouper = _GroupCommit(self)

    async def append(
        self,
        writes: StreamWrite | Sequence[StreamWrite],
        *,
        org_id: str,
        metadata: Metadata,
        idempotency_key: str | None = None,
        result: Any = None,
        conn: Conn | None = None,
        effects: Sequence[Effect] = (),
        locks: Sequence[Lock] = (),
    ) -> AppendResult:
        """Append every write in one transaction (all or nothing).

        Raises WrongExpectedVersion when a stream is not at its expected version (retry the
        command from fresh state). With ``idempotency_key`` (scoped to org and actor) or
        caller-chosen event ids, a repeat appends nothing and returns the first result with
        ``duplicate=True``. ``result`` (JSON-encodable) is stored with the key. When ``conn``
        is given the append joins its transaction as one statement (no savepoint: a failed
        append aborts the caller's transaction, which must be redone). ``effects`` commit with
        the events, in the same statement (see :class:`Effect`); ``locks`` are taken in it
        before any event is written (see :class:`Lock`).
        """
        batch = [writes] if isinstance(writes, StreamWrite) else list(writes)
        if metadata.label_id is not None and metadata.task_id is None:
            # The audit's label filter finds a label's events among its task's (audit_sql).
            raise ValueError("metadata naming a label must name its task")
        if idempotency_key is not None:
            metadata = msgspec.structs.replace(metadata, idempotency_key=idempotency_key)
        command = _Command(batch, org_id, metadata, effects, locks)
        groupable = (
            conn is None
            and idempotency_key is None
            and not effects
            and not locks
            and len({w.stream_name for w in batch}) == len(batch)
            # Large commands already fill a statement; merging them only adds contention.
            and sum(len(w.events) for w in batch) <= _GROUP_MAX_EVENTS_PER_COMMAND
        )
        if groupable:
            out = await self._grouper.submit(command)
        else:
            out = await self._append_retrying(command, idempotency_key, result, conn)
        if not out.duplicate and self.on_append:
            categories = frozenset(w.stream_name.partition("-")[0] for w in batch if w.events)
            for callback in self.on_append:
                callback(categories)
        return out

    async def _append_retrying(
        self,
        command: _Command,
        idempotency_key: str | None,
        result: Any,
        conn: Conn | None,
    ) -> AppendResult:
        only_any = all(w.expected_version == ANY for w in command.writes)
        # Inside a caller's transaction a failed statement has aborted that transaction, so
        # retrying here is impossible: the caller gets WrongExpectedVersion and redoes it all.
        attempts = _ANY_RETRIES if only_any and conn is None else 1
        for attempt in range(attempts):
            try:
                [out] = await self._append_once([command], idempotency_key, result, conn)
                return out
            except asyncpg.UniqueViolationError as exc:
                if exc.constraint_name != _POSITION_KEY:
                    raise
                if attempt + 1 < attempts:
                    await asyncio.sleep(0.001 * (attempt + 1))
                    continue
                raise WrongExpectedVersion(
                    "the data changed concurrently; retry the request"
                ) from None
            except _DuplicateEvents:
                ids = [i for w in command.writes for i in (w.event_ids or ())]
                return AppendResult(events=await self._find_events(ids, conn), duplicate=True)
        raise AssertionError("unreachable")

    async def _append_group(self, commands: list[_Command]) -> list[AppendResult | Exception]:
        """Commit commands together (group commit); on any failure, each on its own."""
        if len(commands) > 1:
            try:
                return list(await self._append_once(commands, None, None, None))
            except (
                WrongExpectedVersion,
                _DuplicateEvents,
                asyncpg.UniqueViolationError,
                asyncpg.DeadlockDetectedError,
            ):
                # A stream moved, an event id was seen before, or two groups crossed: find
                # out whose, one by one (each then gets its own conflict or repeat).
                pass
        outcomes: list[AppendResult | Exception] = []
        for command in commands:
            try:
                outcomes.append(await self._append_retrying(command, None, None, None))
            except Exception as exc:
                outcomes.append(exc)
        return outcomes

    async def _append_once(
        self,
        commands: list[_Command],
        idempotency_key: str | None,
        result: Any,
        conn: Conn | None,
    ) -> list[AppendResult]:
        # One statement, one round trip: the version check, the idempotency row and the
        # events succeed or fail together, so no explicit transaction is needed (and a
        # caller's transaction is joined as is: a failed append dooms it). Several commands
        # (group commit) share the statement only when their streams are disjoint.
        names: list[str] = []
        expected: list[int] = []
        rows: tuple[list[str], list[int], list[str], list[int], list[str], list[str]] = (
            [],
            [],
            [],
            [],
            [],
            [],
        )
        command_of_row: list[int] = []
        orgs: list[str] = []
        metas: list[str] = []
        given_ids: list[str] = []
        owner: dict[str, int] = {}
        guards: set[str] = set()
        for index, command in enumerate(commands):
            orgs.append(command.org_id)
            metas.append(_meta_encoder.encode(command.metadata).decode())
            for w in command.writes:
                if w.stream_name in owner or (w.events and w.stream_name in guards):
                    raise ValueError(f"stream {w.stream_name} written twice in one append")
                names.append(w.stream_name)
                expected.append(w.expected_version)
                if not w.events:
                    guards.add(w.stream_name)
                    continue
                owner[w.stream_name] = index
                given = list(w.event_ids or ())
                if not w.new_ids:
                    given_ids.extend(given)
                for offset, event in enumerate(w.events):
                    rows[0].append(w.stream_name)
                    rows[1].append(offset)
                    rows[2].append(type(event).__name__)
                    rows[3].append(type(event).schema_version)
                    rows[4].append(encode_event(event).decode())
                    rows[5].append(given[offset] if offset < len(given) else str(uuid.uuid4()))
                    command_of_row.append(index + 1)
        args: list[Any] = [names, expected, *rows, orgs, metas, given_ids, command_of_row]
        if idempotency_key is not None:
            args += [
                commands[0].metadata.actor_id,
                idempotency_key,
                _meta_encoder.encode({"result": result}).decode(),
            ]
        effects = [e for command in commands for e in command.effects]
        locks = [lock for command in commands for lock in command.locks]
        sql = _append_sql(
            idempotency_key is not None,
            tuple((e.sql, len(e.args)) for e in effects),
            tuple((lock.sql, len(lock.args)) for lock in locks),
        )
        for lock in locks:
            args += lock.args
        for effect in effects:
            args += effect.args
        db = conn if conn is not None else self.pool
        try:
            inserted = await db.fetch(sql, *args)
        except asyncpg.RaiseError as exc:
            if exc.hint == "preflog:wrong_expected_version":
                raise WrongExpectedVersion(
                    "the data changed concurrently; retry the request"
                ) from None
            raise
        except asyncpg.UniqueViolationError as exc:
            if exc.constraint_name == _EVENT_ID_KEY:
                raise _DuplicateEvents from None
            raise
        if len(inserted) != len(rows[0]):
            if idempotency_key is not None and not inserted:
                seen, stored = await self.stored_result(
                    commands[0].org_id, commands[0].metadata.actor_id, idempotency_key, conn=conn
                )
                if not seen:
                    # The key's window ended between the two statements (in a transaction
                    # both read one clock, so only outside one): it is new again, and the
                    # command runs as it would have a moment later.
                    return await self._append_once(commands, idempotency_key, result, conn)
                return [AppendResult(events=[], duplicate=True, result=stored)]
            raise _DuplicateEvents
        per_command: list[list[AppendedEvent]] = [[] for _ in commands]
        for r in inserted:
            per_command[owner[r[1]]].append(AppendedEvent(r[0], r[1], r[2], r[3]))
        return [
            AppendResult(
                events=sorted(events, key=lambda e: e.global_position),
                result=result if i == 0 else None,
            )
            for i, events in enumerate(per_command)
        ]

    async def keep_result(
        self, org_id: str, actor_id: str, key: str, result: Any, *, conn: Conn
    ) -> None:
        """Store ``result`` under an idempotency key in the caller's transaction, for a
        command whose result is known only after its append (it reads what it wrote), so
        the append itself is made without the key.

        Raises Conflict when the key is already stored (and within ``IDEMPOTENCY_WINDOW``): a
        repeat of the command committed first, and the caller's transaction must roll back
        (its repeat then answers with the first result). An expired key's row is overwritten.
        """
        stored = await conn.fetchval(
            _keep_key_sql("$1::uuid", "$2", "$3", "$4"),
            org_id,
            actor_id,
            key,
            _meta_encoder.encode({"result": result}).decode(),
        )
        if stored is None:
            raise Conflict("the same request was made again at the same moment; retry it")

    async def stored_result(
        self, org_id: str, actor_id: str, key: str, *, conn: Conn | None = None
    ) -> tuple[bool, Any]:
        """``(True, first result)`` if this actor used ``key`` in this org within
        ``IDEMPOTENCY_WINDOW``, else ``(False, None)``. Commands check it before deciding, so
        a repeat answers like the first call even when the domain would now refuse the
        command (a second submit)."""
        db = conn if conn is not None else self.pool
        raw = await db.fetchval(
            "select result::text from eventlog.idempotency"
            f" where org_id = $1::uuid and actor_id = $2 and key = $3 and {_KEY_LIVE}",
            org_id,
            actor_id,
            key,
        )
        if raw is None:
            return False, None
        return True, _result_decoder.decode(raw)["result"]

    async def _find_events(self, event_ids: list[str], conn: Conn | None) -> list[AppendedEvent]:
        sql = (
            "select event_id::text, stream_name, stream_position, global_position"
            " from eventlog.events where event_id = any($1::uuid[]) order by global_position"
        )
        if conn is not None:
            rows = await conn.fetch(sql, event_ids)
        else:
            rows = await self.pool.fetch(sql, event_ids)
        return [AppendedEvent(r[0], r[1], r[2], r[3]) for r in rows]

    async def read_stream(
        self,
        stream_name: str,
        *,
        after_position: int = -1,
        until: datetime | None = None,
        org_id: str | None = None,
        conn: Conn | None = None,
        types: Sequence[str] | None = None,
    ) -> list[RecordedEvent]:
        """A stream's events in order; ``until`` keeps those recorded up to then (time travel).

        With ``types``, only events of those types, and the stream's last event whatever its
        type (so a fold still ends at the stream's version): for a fold that ignores large
        events (a project's batches, with every data row id in them)."""
        db = conn if conn is not None else self.pool
        if types is None:
            return await _fetch_events(
                db,
                _STREAM_WHERE,
                "stream_position",
                [stream_name, after_position, until, org_id],
                "all",
            )
        return await _fetch_events(
            db,
            _STREAM_WHERE + _OF_TYPES_OR_LAST,
            "stream_position",
            [stream_name, after_position, until, org_id, list(types)],
            "all",
        )

    async def read_streams(
        self, stream_names: Sequence[str], *, org_id: str, conn: Conn | None = None
    ) -> list[RecordedEvent]:
        """The events of every stream named (one org's), each stream in order: one statement
        for a page of streams where ``read_stream`` would take a round trip each."""
        if not stream_names:
            return []
        db = conn if conn is not None else self.pool
        return await _fetch_events(
            db,
            _STREAMS_WHERE,
            "stream_name, stream_position",
            [list(stream_names), org_id],
            "all",
        )

    async def stream_version(self, stream_name: str, conn: Conn | None = None) -> int:
        db = conn if conn is not None else self.pool
        value = await db.fetchval(
            "select max(stream_position) from eventlog.events where stream_name = $1", stream_name
        )
        return -1 if value is None else int(value)

    async def read_all(
        self,
        after: Cursor,
        *,
        limit: int = 1000,
        categories: Sequence[str] | None = None,
        org_id: str | None = None,
        project_id: str | None = None,
        task_id: str | None = None,
        also_types: Sequence[str] | None = None,
        recorded_from: datetime | None = None,
        recorded_before: datetime | None = None,
        conn: Conn | None = None,
    ) -> list[RecordedEvent]:
        """Events after ``after`` in commit order, never skipping one that commits late.

        Only transactions older than the oldest still running one are visible, so a reader
        may briefly lag a long transaction but never loses its events. The optional filters
        narrow what is returned (``recorded_from`` inclusive, ``recorded_before`` exclusive);
        a cursor taken from a filtered read resumes that same read. ``task_id``: that task's
        events, and with ``also_types`` (and ``org_id``) every event of those types too. A
        task's read goes by the task's index (``events_task``, and ``events_org_type`` for
        the types), so it costs the task's events, not the log's since ``after``. A
        project's read goes by the project's index from the last time mark before the
        cursor's event (``_SINCE_CURSOR_TIME``), so it costs the project's events since
        about then.
        """
        db = conn if conn is not None else self.pool
        where, args = read_all_where(
            after,
            limit=limit,
            categories=categories,
            org_id=org_id,
            project_id=project_id,
            task_id=task_id,
            also_types=also_types,
            recorded_from=recorded_from,
            recorded_before=recorded_before,
        )
        if task_id is None and project_id is None:
            return await _fetch_events(db, where, "tx_id, global_position", args, "$3")
        # A task's or project's read is planned for its values each time (a cached generic
        # plan, made while the log was small, read the log in commit order); it is not a hot
        # path.
        return await _fetch_planned(db, _events_sql(where, "tx_id, global_position", "$3"), args)

    async def read_window(
        self,
        after: Cursor,
        *,
        limit: int = 1000,
        categories: Sequence[str] | None = None,
        conn: Conn | None = None,
    ) -> Window:
        """The next ``limit`` events after ``after`` in commit order (gap-safe, as
        :meth:`read_all`), of which only those of ``categories`` are returned whole.

        A filtered :meth:`read_all` that finds nothing scans every event after its cursor,
        and its caller's cursor never moves: a reader of a quiet category polled the whole
        growing label traffic on every poll. A window always ends where its scan ended, so
        the reader moves on; the events it skipped are never detoasted.
        """
        db = conn if conn is not None else self.pool
        row = await db.fetchrow(
            _WINDOW_SQL,
            str(after.tx_id),
            after.global_position,
            limit,
            list(categories) if categories is not None else None,
        )
        assert row is not None
        end = None if row[1] is None else Cursor(row[1], row[2])
        return Window(events=_batch_decoder.decode(row[3]), scanned=row[0], end=end)

    async def query(
        self,
        *,
        org_id: str,
        project_id: str | None = None,
        task_id: str | None = None,
        task_ids: Sequence[str] | None = None,
        label_id: str | None = None,
        actor_id: str | None = None,
        stream_name: str | None = None,
        types: Sequence[str] | None = None,
        since: datetime | None = None,
        until: datetime | None = None,
        after_position: int = 0,
        limit: int = 100,
        conn: Conn | None = None,
    ) -> list[RecordedEvent]:
        """The audit trail of one org, filtered, in ``global_position`` order (for paging).

        Only the filters given are in the statement, and it is planned for their values on
        every call: which index serves it depends on them (an actor with three events in
        millions, or one with most of them), so one cached plan for every filter could not
        serve them all (ADR 0023)."""
        sql, args = audit_sql(
            org_id=org_id,
            project_id=project_id,
            task_id=task_id,
            task_ids=task_ids,
            label_id=label_id,
            actor_id=actor_id,
            stream_name=stream_name,
            types=types,
            since=since,
            until=until,
            after_position=after_position,
            limit=limit,
        )
        return await _fetch_planned(conn if conn is not None else self.pool, sql, args)


def conditions(args: list[Any], *filters: tuple[str, Any]) -> list[str]:
    """The conditions of the filters given (a value other than None), each value appended to
    ``args`` and its placeholder (``{}``, or ``{0}`` where it appears twice) numbered for it.

    For a statement built from the filters a request sets rather than one with
    ``$n is null or ...`` for each: that form cannot use an index, and a cached generic plan
    cannot tell which filters are set (ADR 0025)."""
    given = []
    for condition, value in filters:
        if value is not None:
            args.append(value)
            given.append(condition.format(len(args)))
    return given


# A bound on the positions after a commit-order cursor, so that a project's catch-up reads
# the project's events by its index (events_project) from about the cursor's time, not the
# whole log in commit order since the cursor (every tenant's events). An event later in
# commit order than the cursor's event c belongs to c's transaction or to one whose id was
# assigned after c's, so after c's transaction began (c's recorded_at). An append assigns its
# transaction's id before it draws any position (the ok CTE of the append), so the event's
# position was drawn after that moment, and lies above the last time mark at or before it
# (mark_time). No cursor event (START): no bound.
def _above_last_mark(moment: str) -> str:
    """The condition: ``global_position`` above the last time mark at or before ``moment``
    (an SQL expression), where every event appended after that moment lies (mark_time)."""
    return (
        "global_position > coalesce((select m.position from eventlog.time_marks m"
        f" where m.marked_at <= {moment} order by m.marked_at desc limit 1), 0)"
    )


_SINCE_CURSOR_TIME = _above_last_mark(
    "(select c.recorded_at from eventlog.events c where c.global_position = $2)"
)


def read_all_where(
    after: Cursor,
    *,
    limit: int = 1000,
    categories: Sequence[str] | None = None,
    org_id: str | None = None,
    project_id: str | None = None,
    task_id: str | None = None,
    also_types: Sequence[str] | None = None,
    recorded_from: datetime | None = None,
    recorded_before: datetime | None = None,
) -> tuple[str, list[Any]]:
    """The condition of :meth:`EventStore.read_all` and its arguments (``$3``: the limit)."""
    args: list[Any] = [str(after.tx_id), after.global_position, limit]
    given = conditions(
        args,
        ("category = any(${}::text[])", list(categories) if categories else None),
        ("org_id = ${}::uuid", org_id),
        ("project_id = ${}", project_id),
        ("recorded_at >= ${}", recorded_from),
        ("recorded_at < ${}", recorded_before),
    )
    where = " and ".join([_AFTER_CURSOR, *given])
    if project_id is not None and task_id is None:
        where += " and " + _SINCE_CURSOR_TIME
    if task_id is not None:
        args.append(task_id)
        if also_types:
            args.append(list(also_types))
            where += f" and (task_id = ${len(args) - 1} or event_type = any(${len(args)}::text[]))"
        else:
            where += f" and task_id = ${len(args)}"
    return where, args


def audit_sql(
    *,
    org_id: str,
    project_id: str | None = None,
    task_id: str | None = None,
    task_ids: Sequence[str] | None = None,
    label_id: str | None = None,
    actor_id: str | None = None,
    stream_name: str | None = None,
    types: Sequence[str] | None = None,
    since: datetime | None = None,
    until: datetime | None = None,
    after_position: int = 0,
    limit: int = 100,
) -> tuple[str, list[Any]]:
    """The statement of :meth:`EventStore.query` and its arguments, with only the filters
    given (each is ANDed; an empty ``types`` is no filter; ``task_ids``: any of them)."""
    args: list[Any] = [org_id, after_position]
    where = ["org_id = $1::uuid", "global_position > $2"]
    where += conditions(
        args,
        ("project_id = ${}", project_id),
        ("task_id = ${}", task_id),
        ("task_id = any(${}::text[])", None if task_ids is None else list(task_ids)),
        # label_id has no index of its own (one more on every append): an event naming a
        # label names its task too (``append`` refuses one that does not), so the label's
        # events are among its task's, found by the task's index. The label's task is its
        # stream's first event's.
        (
            "label_id = ${0} and task_id = (select l.task_id from eventlog.events l"
            " where l.stream_name = 'label-' || ${0} and l.stream_position = 0"
            " and l.org_id = $1::uuid)",
            label_id,
        ),
        ("actor_id = ${}", actor_id),
        ("stream_name = ${}", stream_name),
        ("event_type = any(${}::text[])", list(types) if types else None),
        # The last mark before ``since`` bounds the positions to read (see mark_time).
        ("recorded_at >= ${0}::timestamptz and " + _above_last_mark("${0}::timestamptz"), since),
        ("recorded_at <= ${}::timestamptz", until),
    )
    args.append(limit)
    return _events_sql(" and ".join(where), "global_position", f"${len(args)}"), args


async def mark_time(conn: Conn, unless_at: int | None = None) -> int:
    """Add a time mark (``eventlog.time_marks``): the last position handed out, then the
    clock, in two statements so the clock is read after the position. Every event appended
    after the mark's time then has a greater position, and every event recorded at or after
    it (its transaction began then or later) was appended after it.

    Returns the position (0 before the first event). No mark is added when it is
    ``unless_at`` (the caller's last mark's): nothing was appended since, and the earlier
    mark bounds every later time as tightly, so an idle log gains no rows."""
    # Before its first call a sequence shows the value it will hand out first as last_value.
    position = await conn.fetchval(
        "select case when is_called then last_value else last_value - 1 end"
        " from eventlog.events_global_position_seq"
    )
    if position != unless_at:
        await conn.execute(
            "insert into eventlog.time_marks (marked_at, position) values (clock_timestamp(), $1)"
            " on conflict do nothing",
            position,
        )
    return int(position)


# Marks older than a day are thinned to the first of each minute, older than 30 days to the
# first of each hour. Any mark may go: a query from a time then starts at an earlier mark,
# and reads more of the log before its window, never less of it.
_THIN_TIME_MARKS_SQL = """
with bucketed as (
  select marked_at,
         row_number() over (
           partition by date_trunc(
             case when marked_at < $1::timestamptz - interval '30 days' then 'hour'
                  else 'minute' end,
             marked_at)
           order by marked_at) as n
    from eventlog.time_marks
   where marked_at < $1::timestamptz - interval '1 day')
delete from eventlog.time_marks m using bucketed b where m.marked_at = b.marked_at and b.n > 1
"""


async def thin_time_marks(conn: Conn, now: datetime) -> int:
    """Thin the old time marks (see ``_THIN_TIME_MARKS_SQL``): at most about 17,000 a day
    are kept for the last day, 1,440 a day for the 30 before it, 24 a day before that.
    Returns how many went."""
    status = await conn.execute(_THIN_TIME_MARKS_SQL, now)
    return int(status.split()[-1])


# One batch of expired keys, oldest first: those at or before the batch's last one's time
# (all of them when fewer are left), a range of the index idempotency_created_at. A range
# keeps that index in any plan, even one made while the table was empty (ADR 0012): in such
# a plan, a delete by row address (ctid = any(array(...))) read the whole table, or every
# expired key. The age is tested again on each row deleted, so a key overwritten by a new
# use meanwhile (live again) stays; pruners running at once wait for each other's rows and
# skip them.
_PRUNE_KEYS_SQL = f"""
delete from eventlog.idempotency
 where {_KEY_EXPIRED}
   and created_at <= coalesce((select created_at from eventlog.idempotency
                                where {_KEY_EXPIRED}
                                order by created_at offset $1 - 1 limit 1), 'infinity')
"""


async def prune_idempotency_keys(conn: Conn, batch: int = 1000) -> int:
    """Delete the oldest ``batch`` (at least 1) idempotency keys past ``IDEMPOTENCY_WINDOW``
    (they answer nothing any more) in one short statement; more when several share the
    last one's time. Returns how many went: ``batch`` or more means more may be left. Safe
    to run in several processes at once."""
    status = await conn.execute(_PRUNE_KEYS_SQL, batch)
    return int(status.split()[-1])


async def _fetch_planned(db: Conn | asyncpg.Pool, sql: str, args: list[Any]) -> list[RecordedEvent]:
    """Events selected by ``sql``, planned for ``args``: a statement prepared for this call
    only, where the connection's cached one would keep a generic plan after five calls.
    ``db``: a connection, or the pool to take one from."""
    if isinstance(db, asyncpg.Pool):
        async with db.acquire() as conn:
            return await _fetch_planned(conn, sql, args)
    statement = await db.prepare(sql)
    text = await statement.fetchval(*args)
    events: list[RecordedEvent] = _batch_decoder.decode(text)
    return events


async def load_checkpoint(conn: Conn, name: str, *, lock: bool = False) -> Cursor:
    """The named reader's cursor (created at the start if missing); ``lock`` holds its row.

    One round trip in the usual case (the row exists): readers call this for every batch.
    """
    sql = (
        "select tx_id::text::bigint, global_position from eventlog.checkpoints where name = $1"
        + (" for update" if lock else "")
    )
    row = await conn.fetchrow(sql, name)
    if row is None:
        await conn.execute(
            "insert into eventlog.checkpoints (name) values ($1) on conflict do nothing", name
        )
        row = await conn.fetchrow(sql, name)
    assert row is not None
    return Cursor(row[0], row[1])


async def save_checkpoint(conn: Conn, name: str, cursor: Cursor) -> None:
    await conn.execute(
        "update eventlog.checkpoints set tx_id = $2::text::xid8, global_position = $3,"
        " updated_at = now() where name = $1",
        name,
        str(cursor.tx_id),
        cursor.global_position,
    )
