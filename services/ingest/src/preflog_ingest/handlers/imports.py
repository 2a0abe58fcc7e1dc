"""Imports: the chunked bulk path (start_import / import_chunk / get_import) and the small
synchronous ``import_rows``.

A bulk import is a session in the instance that started it. Each chunk is split into rows
(the splitter keeps the partial row between chunks), parsed, its URLs fetched, and handed
to the session's writers (``WRITERS`` transactions at once, so the database works on
two batches while the next chunk is parsed); at most ``WRITERS`` batches wait for them,
so a slow database slows the caller (the awaited
call is the back-pressure) and memory stays constant. A chunk reaching another instance
is forwarded to the session's owner on its own subject (``<ns>.rpc.ingest.<instance>.*``).
The final chunk answers once every row is committed. Re-sending the last chunk returns
the same acknowledgement. If the owning instance dies the import is FAILED; importing the
same body again is safe, since rows already in the org come back as duplicates.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from dataclasses import dataclass, field

import asyncpg
import msgspec
import structlog

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.errors import (
    Conflict,
    Forbidden,
    Invalid,
    NotFound,
    PreflogError,
    WrongExpectedVersion,
)
from preflog_contracts.events.catalog import ImportCompleted, ImportFailed, ImportStarted
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.ingest import (
    CHUNK_TIMEOUT_SECONDS,
    MAX_CHUNK_BYTES,
    MAX_IMPORT_ROWS,
    ChunkAck,
    GetImportRequest,
    ImportChunk,
    ImportCounts,
    ImportErrorView,
    ImportRef,
    ImportResult,
    ImportRowsRequest,
    ImportStartedView,
    ImportView,
    StartImportRequest,
)
from preflog_eventstore import ANY, StreamWrite, sleep_or_stop
from preflog_ingest.adapters import catalog_tables as tables
from preflog_ingest.domain import BlankLine, RowResult, parse_line, parse_value
from preflog_ingest.domain.row_splitting import BodyError, RowPiece, RowSplitter, splitter_for
from preflog_ingest.handlers.deps import IngestDeps
from preflog_ingest.handlers.row_batches import (
    BATCH_ROWS,
    BatchOutcome,
    PreparedBatch,
    commit_batch,
    prepare_batch,
)
from preflog_messaging.rpc import CallContext, NoResponders, Ping

log = structlog.get_logger(__name__)
IDLE_SECONDS = 15 * 60
OWNER_GONE = "the service instance holding the import stopped"
WRITERS = 2
"""Concurrent batch transactions per import (one instead of two measured 2.5k against 3.7k
rows/s). Batches claim their global keys in line order (:class:`_ClaimOrder`), so a key
repeated across two batches in flight goes to the earlier line: the later batch waits on the
earlier one's claim."""
_RETRIES = 5


class _ClaimOrder:
    """Batch ``n + 1`` claims its global keys only once batch ``n`` has claimed its own (or
    given up). The claim is the batch transaction's first statement and the keys stay held
    until it ends, so the earlier line wins a repeated key whatever the commit order."""

    def __init__(self) -> None:
        self._next = 0
        self._changed = asyncio.Condition()

    async def wait_turn(self, seq: int) -> None:
        async with self._changed:
            await self._changed.wait_for(lambda: self._next >= seq)

    async def claimed(self, seq: int) -> None:
        async with self._changed:
            self._next = max(self._next, seq + 1)
            self._changed.notify_all()


@dataclass
class _Session:
    import_id: str
    org_id: str
    dataset_id: str
    metadata: Metadata
    splitter: RowSplitter
    actor_id: str = ""
    next_seq: int = 0
    last_ack: ChunkAck | None = None
    counts: ImportCounts = field(default_factory=ImportCounts)
    failure: str | None = None
    touched: float = field(default_factory=time.monotonic)
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    queue: asyncio.Queue[PreparedBatch | None] = field(
        default_factory=lambda: asyncio.Queue(maxsize=WRITERS)
    )
    writers: list[asyncio.Task[None]] = field(default_factory=list)
    dequeued: int = 0  # batches taken by the writers so far: the next batch's number
    claims: _ClaimOrder = field(default_factory=_ClaimOrder)


class _Replayed(Exception):
    def __init__(self, result: object) -> None:
        self.result = result


class Imports:
    def __init__(self, deps: IngestDeps) -> None:
        self.deps = deps
        self._sessions: dict[str, _Session] = {}

    # --- bulk ---------------------------------------------------------------------------

    async def start_import(self, ctx: CallContext, req: StartImportRequest) -> ImportStartedView:
        """Open an import session; NOT_FOUND for a dataset outside the caller's org,
        FORBIDDEN without import rights, INVALID_INPUT for an unsupported content type."""
        identity = ctx.require_identity()
        try:
            splitter = splitter_for(req.content_type)
        except BodyError as exc:
            raise Invalid(str(exc), {"content_type": "unsupported"}) from None
        import_id = str(uuid.uuid4())
        async with self.deps.pool.acquire() as conn, conn.transaction():
            role = await self.deps.import_role(conn, identity, req.dataset_id)
            metadata = ctx.metadata(role)
            await tables.insert_import(
                conn,
                import_id=import_id,
                org_id=identity.org_id,
                dataset_id=req.dataset_id,
                actor_id=identity.user_id,
                owner=self.deps.instance,
                content_type=req.content_type,
            )
            await self.deps.store.append(
                StreamWrite(
                    stream_name(ImportStarted.category, import_id),
                    [
                        ImportStarted(
                            import_id=import_id,
                            dataset_id=req.dataset_id,
                            content_type=req.content_type,
                        )
                    ],
                    ANY,
                ),
                org_id=identity.org_id,
                metadata=metadata,
                conn=conn,
            )
        session = _Session(
            import_id, identity.org_id, req.dataset_id, metadata, splitter, identity.user_id
        )
        session.writers = [
            asyncio.create_task(self._write(session), name=f"import:{import_id}:{n}")
            for n in range(WRITERS)
        ]
        self._sessions[import_id] = session
        return ImportStartedView(import_id=import_id)

    async def import_chunk(self, ctx: CallContext, req: ImportChunk) -> ChunkAck:
        """Take the next piece of the body (see the contract for the protocol)."""
        identity = ctx.require_identity()
        session = self._sessions.get(req.import_id)
        if session is None:
            return await self._elsewhere(ctx, identity, req)
        if session.org_id != identity.org_id:
            raise NotFound("import not found")
        if session.actor_id != identity.user_id:
            raise Forbidden("only whoever started an import may send its chunks")
        return await self._take_chunk(session, req)

    async def import_chunk_here(self, ctx: CallContext, req: ImportChunk) -> ChunkAck:
        """The owner's own subject: a forwarded chunk is never forwarded again."""
        identity = ctx.require_identity()
        session = self._sessions.get(req.import_id)
        if session is None or session.org_id != identity.org_id:
            return await self._finished_ack(identity, req)
        if session.actor_id != identity.user_id:
            raise Forbidden("only whoever started an import may send its chunks")
        return await self._take_chunk(session, req)

    async def abort_import(self, ctx: CallContext, req: ImportRef) -> ImportView:
        identity = ctx.require_identity()
        session = self._sessions.get(req.import_id)
        if session is not None and session.org_id == identity.org_id:
            async with session.lock:
                await self._fail(session, "aborted by the client")
        else:
            async with self.deps.pool.acquire() as conn:
                record = await tables.load_import(conn, identity.org_id, req.import_id)
                if record is None:
                    raise NotFound("import not found")
                self._check_reader(identity, record)
                if record.status == "RUNNING":
                    await self._record_failure(
                        identity.org_id,
                        record.import_id,
                        record.dataset_id,
                        Metadata(actor_id=identity.user_id, actor_role=identity.org_role),
                        "aborted by the client",
                    )
        return await self.get_import(ctx, GetImportRequest(import_id=req.import_id))

    async def get_import(self, ctx: CallContext, req: GetImportRequest) -> ImportView:
        """Status, counts, a page of row errors and timings. Visible to whoever started the
        import and to org admins; NOT_FOUND for anyone else."""
        identity = ctx.require_identity()
        limit = min(max(req.errors_limit, 0), 500)
        async with self.deps.pool.acquire() as conn:
            record = await tables.load_import(conn, identity.org_id, req.import_id)
            if record is None:
                raise NotFound("import not found")
            self._check_reader(identity, record)
            if record.status != "RUNNING" or record.owner == self.deps.instance:
                return await tables.import_view(
                    conn, record, errors_after=req.errors_after, errors_limit=limit
                )
        # Held by another instance: if that one is gone, its session died with it. Say so
        # now, not after the idle timeout.
        if not await self._owner_answers(ctx, record.owner):
            await self._owner_gone(ctx, identity, record)
        async with self.deps.pool.acquire() as conn:
            record = await tables.load_import(conn, identity.org_id, req.import_id)
            assert record is not None
            return await tables.import_view(
                conn, record, errors_after=req.errors_after, errors_limit=limit
            )

    async def _owner_gone(
        self, ctx: CallContext, identity: Identity, record: tables.ImportRecord
    ) -> None:
        """Fail an import whose owning instance no longer runs."""
        await self._record_failure(
            identity.org_id,
            record.import_id,
            record.dataset_id,
            ctx.metadata("ADMIN" if identity.is_admin else "MANAGER"),
            OWNER_GONE,
        )

    async def _owner_answers(self, ctx: CallContext, owner: str) -> bool:
        """Whether the instance holding an import's session is still there: something listens
        on its own subject. A slow answer (a busy instance) is not proof of death."""
        try:
            await self.deps.rpc.call(f"ingest.{owner}", "ping", Ping(), ctx=ctx, timeout=2.0)
        except NoResponders:
            return False
        except PreflogError:
            return True
        return True

    @staticmethod
    def _check_reader(identity: Identity, record: tables.ImportRecord) -> None:
        if record.actor_id != identity.user_id and not identity.is_admin:
            raise NotFound("import not found")

    async def _take_chunk(self, session: _Session, req: ImportChunk) -> ChunkAck:
        async with session.lock:
            session.touched = time.monotonic()
            if session.last_ack is not None and req.seq == session.last_ack.seq:
                return session.last_ack  # a retry after a lost reply
            if req.seq != session.next_seq:
                raise Invalid(
                    f"expected chunk {session.next_seq}, got {req.seq}", {"seq": "out of order"}
                )
            if len(req.data) > MAX_CHUNK_BYTES:
                raise Invalid(f"a chunk holds at most {MAX_CHUNK_BYTES} bytes", {"data": "too big"})
            if session.failure is None:
                await self._consume(session, req)
            if session.failure is not None:
                status = "FAILED"
            else:
                status = "COMPLETED" if req.final else "RUNNING"
            ack = ChunkAck(
                import_id=session.import_id, seq=req.seq, status=status, counts=session.counts
            )
            session.next_seq, session.last_ack = req.seq + 1, ack
            if status != "RUNNING":
                self._sessions.pop(session.import_id, None)
            return ack

    async def _consume(self, session: _Session, req: ImportChunk) -> None:
        try:
            pieces = session.splitter.feed(req.data)
        except BodyError as exc:
            await self._fail(session, str(exc))
            return
        body_error: str | None = None
        if req.final:
            try:
                pieces += session.splitter.finish()
            except BodyError as exc:
                body_error = str(exc)  # the rows before the damage still land
        limits = self.deps.limits
        results: list[RowResult] = []
        for piece in pieces:
            if isinstance(piece, RowPiece):
                parsed = parse_line(piece.data, piece.line, limits)
                if isinstance(parsed, BlankLine):
                    continue
                results.append(parsed)
            else:
                results.append(piece)
        for start in range(0, len(results), BATCH_ROWS):
            batch = await prepare_batch(
                results[start : start + BATCH_ROWS], self.deps.fetcher, limits
            )
            await session.queue.put(batch)
        if req.final:
            await self._stop_writers(session)
            if session.failure is None and body_error is None:
                await self._complete(session)
            else:
                await self._fail(session, session.failure or body_error or "")
        elif session.failure is not None:
            await self._fail(session, session.failure)

    async def _write(self, session: _Session) -> None:
        """Commit batches; after a failure keep draining so callers never block."""
        while (batch := await session.queue.get()) is not None:
            seq = session.dequeued  # the queue hands batches out in line order
            session.dequeued += 1
            try:
                if session.failure is not None:
                    continue
                outcome = await self._commit_with_retries(session, batch, seq)
                session.counts = _plus(session.counts, outcome.counts)
            except Exception as exc:
                log.exception("import.batch_failed", import_id=session.import_id)
                session.failure = f"storing rows failed: {type(exc).__name__}"
            finally:
                await session.claims.claimed(seq)  # never hold up the batches after it

    async def _commit_with_retries(
        self, session: _Session, batch: PreparedBatch, seq: int
    ) -> BatchOutcome:
        for attempt in range(_RETRIES):
            await session.claims.wait_turn(seq)
            try:
                async with self.deps.pool.acquire() as conn, conn.transaction():
                    outcome, _ = await commit_batch(
                        conn,
                        self.deps.store,
                        batch,
                        org_id=session.org_id,
                        dataset_id=session.dataset_id,
                        import_id=session.import_id,
                        metadata=session.metadata,
                        on_claimed=lambda: session.claims.claimed(seq),
                    )
                return outcome
            except (asyncpg.DeadlockDetectedError, WrongExpectedVersion):
                # Two batches in flight claimed repeated keys in opposite orders, or appended
                # rejections to the import's stream at once: the batch is simply redone.
                if attempt + 1 == _RETRIES:
                    raise
                await asyncio.sleep(0.01 * (attempt + 1))
        raise AssertionError("unreachable")

    async def _stop_writers(self, session: _Session) -> None:
        """Let queued batches commit, then end the writers."""
        alive = [w for w in session.writers if not w.done()]
        for _ in alive:
            await session.queue.put(None)
        if alive:
            await asyncio.gather(*alive)

    async def _complete(self, session: _Session) -> None:
        async with self.deps.pool.acquire() as conn, conn.transaction():
            counts = await tables.finish_import(conn, session.import_id, "COMPLETED")
            if counts is None:
                return
            session.counts = counts
            await self.deps.store.append(
                StreamWrite(
                    stream_name(ImportCompleted.category, session.import_id),
                    [
                        ImportCompleted(
                            import_id=session.import_id,
                            dataset_id=session.dataset_id,
                            **_count_fields(counts),
                        )
                    ],
                    ANY,
                ),
                org_id=session.org_id,
                metadata=session.metadata,
                conn=conn,
            )

    async def _fail(self, session: _Session, reason: str) -> None:
        session.failure = session.failure or reason
        await self._stop_writers(session)
        await self._record_failure(
            session.org_id,
            session.import_id,
            session.dataset_id,
            session.metadata,
            session.failure,
        )
        self._sessions.pop(session.import_id, None)

    async def _record_failure(
        self, org_id: str, import_id: str, dataset_id: str, metadata: Metadata, reason: str
    ) -> None:
        async with self.deps.pool.acquire() as conn, conn.transaction():
            if await tables.finish_import(conn, import_id, "FAILED", reason) is None:
                return
            await self.deps.store.append(
                StreamWrite(
                    stream_name(ImportFailed.category, import_id),
                    [ImportFailed(import_id=import_id, dataset_id=dataset_id, reason=reason)],
                    ANY,
                ),
                org_id=org_id,
                metadata=metadata,
                conn=conn,
            )

    async def _elsewhere(self, ctx: CallContext, identity: Identity, req: ImportChunk) -> ChunkAck:
        async with self.deps.pool.acquire() as conn:
            record = await tables.load_import(conn, identity.org_id, req.import_id)
        if record is None:
            raise NotFound("import not found")
        if record.actor_id != identity.user_id:
            raise Forbidden("only whoever started an import may send its chunks")
        if record.status != "RUNNING" or record.owner == self.deps.instance:
            return await self._finished_ack(identity, req)
        try:
            return await self.deps.rpc.call(
                f"ingest.{record.owner}",
                "import_chunk",
                req,
                ctx=ctx,
                response_type=ChunkAck,
                timeout=CHUNK_TIMEOUT_SECONDS,
            )
        except NoResponders:  # a slow owner (a timeout) is Unavailable: retry the chunk
            await self._owner_gone(ctx, identity, record)
            raise Conflict("the import was interrupted; start it again") from None

    async def _finished_ack(self, identity: Identity, req: ImportChunk) -> ChunkAck:
        """The answer for a session that is gone: its final state (a retried final chunk
        gets its acknowledgement; anything else learns that the import is over)."""
        async with self.deps.pool.acquire() as conn:
            record = await tables.load_import(conn, identity.org_id, req.import_id)
        if record is None:
            raise NotFound("import not found")
        status = "FAILED" if record.status == "RUNNING" else record.status
        return ChunkAck(
            import_id=record.import_id, seq=req.seq, status=status, counts=record.counts
        )

    async def reap_idle(self, stop: asyncio.Event) -> None:
        """Fail sessions whose client went quiet (a loop run by the service)."""
        while not stop.is_set():
            await sleep_or_stop(stop, 60)
            now = time.monotonic()
            for session in list(self._sessions.values()):
                if now - session.touched > IDLE_SECONDS and not session.lock.locked():
                    async with session.lock:
                        await self._fail(session, "abandoned: the client stopped sending")
        for session in list(self._sessions.values()):
            async with session.lock:
                await self._fail(session, "the service stopped during the import")

    # --- synchronous --------------------------------------------------------------------

    async def import_rows(self, ctx: CallContext, req: ImportRowsRequest) -> ImportResult:
        """Import a few rows at once (GraphQL importDataRows): all rows in one transaction,
        valid rows land, each refused row is named by its 0-based index. A repeated
        idempotency key returns the first result and imports nothing."""
        identity = ctx.require_identity()
        if len(req.rows) > MAX_IMPORT_ROWS:
            raise Invalid(
                f"at most {MAX_IMPORT_ROWS} rows per call; use the bulk import for more",
                {"rows": "too many"},
            )
        key = req.idempotency_key or ctx.idempotency_key
        results = [
            parse_value(value, index + 1, self.deps.limits) for index, value in enumerate(req.rows)
        ]
        batch = await prepare_batch(results, self.deps.fetcher, self.deps.limits)
        import_id = str(uuid.uuid4())
        try:
            async with self.deps.pool.acquire() as conn, conn.transaction():
                role = await self.deps.import_role(conn, identity, req.dataset_id)
                metadata = ctx.metadata(role)
                await tables.insert_import(
                    conn,
                    import_id=import_id,
                    org_id=identity.org_id,
                    dataset_id=req.dataset_id,
                    actor_id=identity.user_id,
                    owner=self.deps.instance,
                    content_type="application/json",
                )
                outcome, appended = await commit_batch(
                    conn,
                    self.deps.store,
                    batch,
                    org_id=identity.org_id,
                    dataset_id=req.dataset_id,
                    import_id=import_id,
                    metadata=metadata,
                    idempotency_key=key,
                    result=lambda o: _result(o, import_id),
                )
                if appended.duplicate:
                    raise _Replayed(appended.result)
                counts = await tables.finish_import(conn, import_id, "COMPLETED")
                assert counts is not None
                await self.deps.store.append(
                    [
                        StreamWrite(
                            stream_name(ImportStarted.category, import_id),
                            [
                                ImportStarted(
                                    import_id=import_id,
                                    dataset_id=req.dataset_id,
                                    content_type="application/json",
                                ),
                                ImportCompleted(
                                    import_id=import_id,
                                    dataset_id=req.dataset_id,
                                    **_count_fields(counts),
                                ),
                            ],
                            ANY,
                        )
                    ],
                    org_id=identity.org_id,
                    metadata=metadata,
                    conn=conn,
                )
        except _Replayed as replay:
            return msgspec.convert(replay.result, ImportResult)
        return _result(outcome, import_id)


def _result(outcome: BatchOutcome, import_id: str) -> ImportResult:
    return ImportResult(
        accepted=outcome.counts.accepted,
        rejected=outcome.counts.rejected,
        duplicates=outcome.counts.duplicates,
        errors=[
            ImportErrorView(
                index=e.line - 1,
                code=e.code,
                message=e.message,
                path=e.path,
                global_key=e.global_key,
            )
            for e in outcome.errors
        ],
        data_row_ids=[data_row_id for _, data_row_id in outcome.accepted],
        import_id=import_id,
    )


def _plus(a: ImportCounts, b: ImportCounts) -> ImportCounts:
    return ImportCounts(
        received=a.received + b.received,
        accepted=a.accepted + b.accepted,
        rejected=a.rejected + b.rejected,
        duplicates=a.duplicates + b.duplicates,
        fetched=a.fetched + b.fetched,
    )


def _count_fields(counts: ImportCounts) -> dict[str, int]:
    return {
        "received": counts.received,
        "accepted": counts.accepted,
        "rejected": counts.rejected,
        "duplicates": counts.duplicates,
        "fetched": counts.fetched,
    }
