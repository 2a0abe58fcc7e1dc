"""Issues: open (any project member), comment (any member), resolve (reviewer+).

An issue's stream ``issue-<issue_id>`` is read directly for every command, so a comment
right after opening never waits for the read model.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Sequence
from datetime import UTC, datetime

import msgspec

from preflog_contracts.envelope import RecordedEvent, stream_name
from preflog_contracts.errors import Invalid, NotFound, WrongExpectedVersion
from preflog_contracts.events.base import Event
from preflog_contracts.events.review import IssueCommented, IssueOpened, IssueResolved
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.review import (
    CommentOnIssue,
    IssueComment,
    IssueView,
    OpenIssue,
    ResolveIssue,
)
from preflog_eventstore import NO_STREAM, EventStore, StreamWrite
from preflog_eventstore.conn import Conn
from preflog_messaging import once_per_key
from preflog_messaging.rpc import CallContext
from preflog_review.adapters.read_model import decode
from preflog_review.adapters.tables import LIVE
from preflog_review.domain import issues
from preflog_review.domain.access import acting_role, can_report, can_review, require

_RETRIES = 8


def issue_stream(issue_id: str) -> str:
    return stream_name(IssueOpened.category, issue_id)


def issue_view(records: Sequence[tuple[RecordedEvent, Event]]) -> IssueView:
    """The issue as its events tell it (the first must be IssueOpened)."""
    opened_rec, opened = records[0]
    assert isinstance(opened, IssueOpened)
    comments: list[IssueComment] = []
    status, resolution, resolved_by = "OPEN", "", None
    for rec, event in records[1:]:
        if isinstance(event, IssueCommented):
            comments.append(
                IssueComment(
                    id=event.comment_id,
                    body=event.body,
                    author_id=rec.metadata.actor_id,
                    created_at=rec.recorded_at,
                )
            )
        elif isinstance(event, IssueResolved):
            status, resolution, resolved_by = "RESOLVED", event.resolution, rec.metadata.actor_id
    return IssueView(
        id=opened.issue_id,
        project_id=opened.project_id,
        task_id=opened.task_id,
        label_id=opened.label_id,
        target=opened.target,
        question_id=opened.question_id,
        status=status,  # type: ignore[arg-type]
        body=opened.body,
        author_id=opened_rec.metadata.actor_id,
        created_at=opened_rec.recorded_at,
        comments=comments,
        resolution=resolution,
        resolved_by=resolved_by,
    )


def _with_event(view: IssueView, event: Event, actor_id: str, now: datetime) -> IssueView:
    """``view`` after ``event`` (acted by ``actor_id`` at ``now``), before it is stored."""
    if isinstance(event, IssueCommented):
        comment = IssueComment(
            id=event.comment_id, body=event.body, author_id=actor_id, created_at=now
        )
        return msgspec.structs.replace(view, comments=[*view.comments, comment])
    if isinstance(event, IssueResolved):
        return msgspec.structs.replace(
            view, status="RESOLVED", resolution=event.resolution, resolved_by=actor_id
        )
    return view


async def _role(conn: Conn, project_id: str, user_id: str) -> str | None:
    role: str | None = await conn.fetchval(
        f"select role from {LIVE.members} where project_id = $1 and user_id = $2",
        project_id,
        user_id,
    )
    return role


class IssueActions:
    def __init__(self, store: EventStore) -> None:
        self.store = store

    async def _load(
        self, conn: Conn, issue_id: str, ident: Identity
    ) -> list[tuple[RecordedEvent, Event]]:
        records = await self.store.read_stream(
            issue_stream(issue_id), org_id=ident.org_id, conn=conn
        )
        decoded = [(r, e) for r in records if (e := decode(r)) is not None]
        if not decoded or not isinstance(decoded[0][1], IssueOpened):
            raise NotFound("issue not found")
        return decoded

    async def open_issue(self, ctx: CallContext, req: OpenIssue) -> IssueView:
        """Open an issue on a task (optionally on a label, response or answer of it).

        Any project member may; raises NotFound for an unknown task or label (or another
        org's), Invalid for a blank body or a label of another task.
        """
        if not req.body.strip():
            raise Invalid("body is required", {"body": "required"})
        return await once_per_key(
            ctx, self.store.stored_result, IssueView, lambda: self._open_once(ctx, req)
        )

    async def _open_once(self, ctx: CallContext, req: OpenIssue) -> IssueView:
        ident = ctx.require_identity()
        # Read on a pooled call, not a held connection, so that the append can go through
        # the store's group commit with others.
        found = await self.store.pool.fetchrow(
            f"select t.project_id,"
            f" (select m.role from {LIVE.members} m where m.project_id = t.project_id"
            f"  and m.user_id = $3) as role,"
            f" (select l.task_id from {LIVE.labels} l where l.label_id = $4"
            f"  and l.org_id = $2::uuid) as label_task,"
            f" (select p.questions::text from {LIVE.projects} p"
            f"  where p.project_id = t.project_id) as questions"
            f" from {LIVE.tasks} t where t.task_id = $1 and t.org_id = $2::uuid",
            req.task_id,
            ident.org_id,
            ident.user_id,
            req.label_id,
        )
        if found is None:
            raise NotFound("task not found")
        task, role = found, found["role"]
        require(can_report(role), "open issues")
        if req.label_id is not None:
            if found["label_task"] is None:
                raise NotFound("label not found")
            if found["label_task"] != req.task_id:
                raise Invalid("the label belongs to another task", {"labelId": "not on task"})
        issues.check_question(found["questions"], req.question_id)
        issue_id = str(uuid.uuid4())
        event = IssueOpened(
            issue_id=issue_id,
            project_id=task["project_id"],
            task_id=req.task_id,
            body=req.body,
            label_id=req.label_id,
            target=req.target,
            question_id=req.question_id,
        )
        now = datetime.now(UTC)
        view = IssueView(
            id=issue_id,
            project_id=event.project_id,
            task_id=req.task_id,
            label_id=req.label_id,
            target=req.target,
            question_id=req.question_id,
            status="OPEN",
            body=req.body,
            author_id=ident.user_id,
            created_at=now,
            comments=[],
        )
        out = await self.store.append(
            StreamWrite(issue_stream(issue_id), [event], NO_STREAM),
            org_id=ident.org_id,
            metadata=ctx.metadata(
                acting_role(role, ident.is_admin),
                project_id=event.project_id,
                task_id=req.task_id,
                label_id=req.label_id,
            ),
            idempotency_key=ctx.idempotency_key,
            result=msgspec.to_builtins(view),
        )
        if out.duplicate:
            return msgspec.convert(out.result, IssueView)
        return view

    async def comment_on_issue(self, ctx: CallContext, req: CommentOnIssue) -> IssueView:
        """Add a comment (any project member). Raises NotFound, Forbidden, Invalid (blank)."""
        comment_id = str(uuid.uuid4())
        return await self._command(
            ctx,
            req.issue_id,
            "comment on issues",
            can_report,
            lambda state: issues.comment(state, comment_id, req.body),
        )

    async def resolve_issue(self, ctx: CallContext, req: ResolveIssue) -> IssueView:
        """Resolve an open issue (reviewer+); resolving a resolved issue raises Invalid."""
        return await self._command(
            ctx,
            req.issue_id,
            "resolve issues",
            can_review,
            lambda state: issues.resolve(state, req.resolution),
        )

    async def _command(
        self,
        ctx: CallContext,
        issue_id: str,
        action: str,
        allowed: Callable[[str | None], bool],
        decide: Callable[[issues.IssueState], list[Event]],
    ) -> IssueView:
        async def command() -> IssueView:
            ident = ctx.require_identity()
            async with self.store.pool.acquire() as conn:
                for _ in range(_RETRIES):
                    records = await self._load(conn, issue_id, ident)
                    opened = records[0][1]
                    assert isinstance(opened, IssueOpened)
                    role = await _role(conn, opened.project_id, ident.user_id)
                    require(allowed(role), action)
                    state = issues.fold_issue(
                        issue_id, ((e, r.stream_position) for r, e in records)
                    )
                    events = decide(state)
                    now = await conn.fetchval("select now()")
                    view = issue_view(records)
                    for event in events:
                        view = _with_event(view, event, ident.user_id, now)
                    try:
                        out = await self.store.append(
                            StreamWrite(issue_stream(issue_id), events, state.version),
                            org_id=ident.org_id,
                            metadata=ctx.metadata(
                                acting_role(role, ident.is_admin),
                                project_id=opened.project_id,
                                task_id=opened.task_id,
                                label_id=opened.label_id,
                            ),
                            idempotency_key=ctx.idempotency_key,
                            result=msgspec.to_builtins(view),
                            conn=conn,
                        )
                    except WrongExpectedVersion:
                        continue
                    if out.duplicate and out.result is not None:
                        return msgspec.convert(out.result, IssueView)
                    return view
            raise WrongExpectedVersion("the issue changed concurrently; retry the request")

        return await once_per_key(ctx, self.store.stored_result, IssueView, command)
