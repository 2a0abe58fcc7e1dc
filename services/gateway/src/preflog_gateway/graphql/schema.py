"""The GraphQL schema of API.md: Query, Mutation, Subscription, and its extensions."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from strawberry.extensions import (
    QueryDepthLimiter,
)
from strawberry.scalars import JSON

from preflog_contracts.envelope import START, RecordedEvent
from preflog_contracts.errors import Invalid, NotFound, PreflogError, Unauthenticated
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.labels import Target
from preflog_contracts.events.projects import MemberAdded, MemberRemoved, MemberRoleChanged
from preflog_contracts.rpc import labeling as lab
from preflog_contracts.rpc import review as rev
from preflog_gateway.accounts.access import project_roles
from preflog_gateway.accounts.visibility import may_see
from preflog_gateway.graphql import catalog_resolvers as cat
from preflog_gateway.graphql import resolvers as r
from preflog_gateway.graphql.audit import audit_page, decode_cursor
from preflog_gateway.graphql.context import GatewayContext
from preflog_gateway.graphql.errors import PublicSchema
from preflog_gateway.graphql.live import committed_now
from preflog_gateway.graphql.request_extension import GatewayRequest, NoNulInStrings
from preflog_gateway.graphql.types.accounts import (
    ApiTokenSecret,
    CreateUserInput,
    NewOrganization,
    Organization,
    User,
)
from preflog_gateway.graphql.types.audit import (
    AuditEvent,
    AuditEventConnection,
    AuditEventEdge,
    AuditFilter,
    PageInfo,
)
from preflog_gateway.graphql.types.catalog import DataRow, Dataset, ImportResult
from preflog_gateway.graphql.types.enums import OrgRole, ProjectRole
from preflog_gateway.graphql.types.labeling import (
    Batch,
    Comment,
    CreateProjectInput,
    Label,
    OntologyInput,
    Project,
    ProjectMember,
    ProjectSettingsInput,
    RankInput,
    TargetInput,
    Task,
)
from preflog_gateway.graphql.types.review import AgreementReport, Issue, Leaderboard
from preflog_gateway.limits import check_page_size
from preflog_messaging import scoped_key
from preflog_settings import Settings


def _ctx(info: strawberry.Info) -> GatewayContext:
    ctx: GatewayContext = info.context["ctx"]
    return ctx


def _opt(value: object | None) -> str | None:
    return None if value is None else str(value)


@strawberry.type
class Query:
    @strawberry.field(description="The authenticated caller.")
    async def viewer(self, info: strawberry.Info) -> User:
        ctx = _ctx(info)
        return User.of(await ctx.gateway.accounts.user(ctx.identity, ctx.identity.user_id))

    @strawberry.field(description="Every user of the caller's organization (org admins).")
    async def users(self, info: strawberry.Info) -> list[User]:
        ctx = _ctx(info)
        if not ctx.identity.is_admin:
            from preflog_contracts.errors import Forbidden

            raise Forbidden("only an organization admin may list users")
        return [User.of(u) for u in await ctx.gateway.accounts.users(ctx.identity)]

    @strawberry.field
    async def organization(self, info: strawberry.Info) -> Organization:
        ctx = _ctx(info)
        org = await ctx.gateway.accounts.organization(ctx.identity.org_id)
        if org is None:
            raise NotFound("no such organization")
        return Organization.of(org)

    @strawberry.field
    async def dataset(self, info: strawberry.Info, id: strawberry.ID) -> Dataset | None:
        return await cat.get_dataset(info, str(id))

    @strawberry.field
    async def datasets(self, info: strawberry.Info) -> list[Dataset]:
        return await cat.list_datasets(info)

    @strawberry.field
    async def data_row(
        self, info: strawberry.Info, id: strawberry.ID | None = None, global_key: str | None = None
    ) -> DataRow | None:
        return await cat.get_data_row(info, _opt(id), global_key)

    @strawberry.field
    async def project(self, info: strawberry.Info, id: strawberry.ID) -> Project | None:
        return await r.get_project(info, str(id))

    @strawberry.field(
        description="The caller's projects (every project of the org for org admins); archived"
        " ones only with includeArchived."
    )
    async def projects(
        self, info: strawberry.Info, include_archived: bool | None = False
    ) -> list[Project]:
        return await r.list_projects(info, bool(include_archived))

    @strawberry.field
    async def task(self, info: strawberry.Info, id: strawberry.ID) -> Task | None:
        return await r.get_task(info, str(id))

    @strawberry.field
    async def label(self, info: strawberry.Info, id: strawberry.ID) -> Label | None:
        return await r.get_label(info, str(id))

    @strawberry.field(description="The caller's organization's log, filtered, oldest first.")
    async def audit_log(
        self,
        info: strawberry.Info,
        filter: AuditFilter,
        first: int | None = 100,
        after: str | None = None,
    ) -> AuditEventConnection:
        ctx = _ctx(info)
        first = 100 if first is None else first
        check_page_size(first, ctx.runtime.settings.max_page_size)
        page = await audit_page(
            ctx.runtime.store, ctx.identity, filter, first=first, after=decode_cursor(after)
        )
        edges = [
            AuditEventEdge(cursor=str(e.global_position), node=AuditEvent.of(e))
            for e in page.events
        ]
        return AuditEventConnection(
            edges=edges,
            page_info=PageInfo(has_next_page=page.has_next, end_cursor=str(page.end_position)),
        )

    @strawberry.field(
        description="The task as it was at that time (a fold of its log). Counts 10 against"
        " a query's complexity budget."
    )
    async def task_as_of(
        self, info: strawberry.Info, task_id: strawberry.ID, at: datetime
    ) -> Task | None:
        return await r.task_as_of(info, str(task_id), at)

    @strawberry.field(
        description="Computed over every comparison of the project: counts 100 against a"
        " query's complexity budget."
    )
    async def leaderboard(self, info: strawberry.Info, project_id: strawberry.ID) -> Leaderboard:
        return await r.leaderboard(info, str(project_id))

    @strawberry.field(
        description="Computed over every label of the project: counts 100 against a query's"
        " complexity budget."
    )
    async def agreement(self, info: strawberry.Info, project_id: strawberry.ID) -> AgreementReport:
        return await r.agreement(info, str(project_id))


@strawberry.type
class Mutation:
    @strawberry.mutation(description="Platform operators only.")
    async def create_organization(
        self,
        info: strawberry.Info,
        name: str,
        admin_email: str,
        admin_name: str,
        idempotency_key: str | None = None,
    ) -> NewOrganization:
        ctx = _ctx(info)
        created = await ctx.gateway.accounts.create_organization(
            ctx.identity,
            name=name,
            admin_email=admin_email,
            admin_name=admin_name,
            idempotency_key=scoped_key("create_organization", idempotency_key),
            correlation_id=ctx.correlation_id,
            user_agent=ctx.user_agent,
        )
        return NewOrganization(
            organization=Organization.of(created.organization),
            admin=User.of(created.admin),
            token=ApiTokenSecret(
                id=strawberry.ID(created.token.token_id), token=created.token.secret
            ),
        )

    @strawberry.mutation(description="Org admins.")
    async def create_user(
        self, info: strawberry.Info, input: CreateUserInput, idempotency_key: str | None = None
    ) -> User:
        ctx = _ctx(info)
        user = await ctx.gateway.accounts.create_user(
            ctx.identity,
            email=input.email,
            name=input.name,
            org_role=(input.org_role or OrgRole.MEMBER).value,
            idempotency_key=scoped_key("create_user", idempotency_key),
            correlation_id=ctx.correlation_id,
            user_agent=ctx.user_agent,
        )
        return User.of(user)

    @strawberry.mutation(description="Org admins. The token is shown this once.")
    async def create_api_token(
        self,
        info: strawberry.Info,
        user_id: strawberry.ID,
        name: str,
        idempotency_key: str | None = None,
    ) -> ApiTokenSecret:
        ctx = _ctx(info)
        issued = await ctx.gateway.accounts.issue_token(
            ctx.identity,
            user_id=str(user_id),
            name=name,
            idempotency_key=scoped_key("create_api_token", idempotency_key),
            correlation_id=ctx.correlation_id,
            user_agent=ctx.user_agent,
        )
        return ApiTokenSecret(id=strawberry.ID(issued.token_id), token=issued.secret)

    @strawberry.mutation(description="The token's owner or an org admin.")
    async def revoke_api_token(
        self, info: strawberry.Info, token_id: strawberry.ID, idempotency_key: str | None = None
    ) -> bool:
        ctx = _ctx(info)
        done = await ctx.gateway.accounts.revoke_token(
            ctx.identity,
            token_id=str(token_id),
            idempotency_key=scoped_key("revoke_api_token", idempotency_key),
            correlation_id=ctx.correlation_id,
            user_agent=ctx.user_agent,
        )
        ctx.gateway.authenticator.forget(str(token_id))
        return done

    @strawberry.mutation
    async def create_dataset(
        self,
        info: strawberry.Info,
        name: str,
        description: str | None = None,
        idempotency_key: str | None = None,
    ) -> Dataset:
        return await cat.create_dataset(info, name, description, idempotency_key)

    @strawberry.mutation
    async def import_data_rows(
        self,
        info: strawberry.Info,
        dataset_id: strawberry.ID,
        rows: list[JSON],
        idempotency_key: str | None = None,
    ) -> ImportResult:
        return await cat.import_rows(info, str(dataset_id), list(rows), idempotency_key)

    @strawberry.mutation
    async def create_project(
        self, info: strawberry.Info, input: CreateProjectInput, idempotency_key: str | None = None
    ) -> Project:
        return await r.create_project(info, input, idempotency_key)

    @strawberry.mutation
    async def update_ontology(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        ontology: OntologyInput,
        idempotency_key: str | None = None,
    ) -> Project:
        return await r.update_ontology(info, str(project_id), ontology, idempotency_key)

    @strawberry.mutation
    async def update_project_settings(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        settings: ProjectSettingsInput,
        idempotency_key: str | None = None,
    ) -> Project:
        return await r.update_settings(info, str(project_id), settings, idempotency_key)

    @strawberry.mutation(
        description="Owners and org admins. An archived project takes no claims, label actions"
        " or new rows; reviews, exports and reads go on. Archiving it again changes nothing."
    )
    async def archive_project(
        self, info: strawberry.Info, project_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Project:
        return await r.set_archived(info, str(project_id), True, idempotency_key)

    @strawberry.mutation(description="Owners and org admins: an archived project's work goes on.")
    async def unarchive_project(
        self, info: strawberry.Info, project_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Project:
        return await r.set_archived(info, str(project_id), False, idempotency_key)

    @strawberry.mutation
    async def add_project_member(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        user_id: strawberry.ID,
        role: ProjectRole,
        idempotency_key: str | None = None,
    ) -> ProjectMember:
        return await r.add_member(info, str(project_id), str(user_id), role.value, idempotency_key)

    @strawberry.mutation(
        description=(
            "Takes a member out of a project (an owner only by an owner or org admin; the last"
            " owner stays). They can no longer see or work in it; tasks they had leased go back"
            " to the queue at once; what they labeled stays."
        )
    )
    async def remove_project_member(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        user_id: strawberry.ID,
        idempotency_key: str | None = None,
    ) -> bool:
        return await r.remove_member(info, str(project_id), str(user_id), idempotency_key)

    @strawberry.mutation
    async def add_data_rows_to_project(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        data_row_ids: list[strawberry.ID] | None = None,
        global_keys: list[str] | None = None,
        dataset_id: strawberry.ID | None = None,
        priority: int | None = None,
        idempotency_key: str | None = None,
    ) -> Batch:
        return await r.add_rows(
            info,
            str(project_id),
            [str(i) for i in data_row_ids] if data_row_ids else None,
            global_keys,
            str(dataset_id) if dataset_id else None,
            priority,
            idempotency_key,
        )

    @strawberry.mutation
    async def import_pre_labels(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        annotations: list[JSON],
        idempotency_key: str | None = None,
    ) -> ImportResult:
        return await cat.import_prelabels(info, str(project_id), list(annotations), idempotency_key)

    @strawberry.mutation(description="Null when the queue is empty.")
    async def claim_next_task(
        self, info: strawberry.Info, project_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Task | None:
        return await r.claim_next(info, str(project_id), idempotency_key)

    @strawberry.mutation
    async def release_task(
        self, info: strawberry.Info, task_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Task:
        return await r.task_call(
            info, "release_task", lab.TaskRef(task_id=str(task_id)), idempotency_key
        )

    @strawberry.mutation(description="Rank 1 is best.")
    async def rank_responses(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        ranking: list[RankInput],
        prompt_id: strawberry.ID | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        return await r.label_call(
            info,
            "rank_responses",
            r.rank_body(str(task_id), _opt(prompt_id), ranking),
            idempotency_key,
        )

    @strawberry.mutation
    async def crown_response(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        response_id: strawberry.ID,
        prompt_id: strawberry.ID | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        return await r.label_call(
            info,
            "crown_response",
            lab.CrownResponseRequest(
                task_id=str(task_id), response_id=str(response_id), prompt_id=_opt(prompt_id)
            ),
            idempotency_key,
        )

    @strawberry.mutation
    async def edit_response(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        response_id: strawberry.ID,
        content: str,
        idempotency_key: str | None = None,
    ) -> Label:
        return await r.label_call(
            info,
            "edit_response",
            lab.EditResponseRequest(
                task_id=str(task_id), response_id=str(response_id), content=content
            ),
            idempotency_key,
        )

    @strawberry.mutation(
        description="A response of the annotator's own at a prompt point (where the project allows"
        " it): text, or with mediaUrl an http(s) URL to media the client streams (content is then"
        " its caption, possibly empty; mimetype says image/..., audio/... or video/...)."
    )
    async def add_response(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        content: str,
        prompt_id: strawberry.ID | None = None,
        model_config_name: str | None = None,
        media_url: str | None = None,
        mimetype: str | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        return await r.label_call(
            info,
            "add_response",
            lab.AddResponseRequest(
                task_id=str(task_id),
                content=content,
                prompt_id=_opt(prompt_id),
                model_config_name=model_config_name or "",
                media_url=media_url,
                mimetype=mimetype,
            ),
            idempotency_key,
        )

    @strawberry.mutation
    async def delete_response(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        response_id: strawberry.ID,
        idempotency_key: str | None = None,
    ) -> Label:
        return await r.label_call(
            info,
            "delete_response",
            lab.DeleteResponseRequest(task_id=str(task_id), response_id=str(response_id)),
            idempotency_key,
        )

    @strawberry.mutation(
        description='RADIO "opt", CHECKLIST ["a","b"], TEXT "...", SCALE 3, YES_NO true'
    )
    async def answer_question(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        question_id: strawberry.ID,
        answer: JSON,
        target: TargetInput | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        return await r.label_call(
            info,
            "answer_question",
            lab.AnswerQuestionRequest(
                task_id=str(task_id),
                question_id=str(question_id),
                answer=answer,
                target=r.target_of(target),
            ),
            idempotency_key,
        )

    @strawberry.mutation
    async def add_comment(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        body: str,
        target: TargetInput | None = None,
        idempotency_key: str | None = None,
    ) -> Comment:
        return await r.add_comment(info, str(task_id), body, target, idempotency_key)

    @strawberry.mutation
    async def undo(
        self, info: strawberry.Info, task_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Label:
        return await r.label_call(info, "undo", lab.TaskRef(task_id=str(task_id)), idempotency_key)

    @strawberry.mutation
    async def redo(
        self, info: strawberry.Info, task_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Label:
        return await r.label_call(info, "redo", lab.TaskRef(task_id=str(task_id)), idempotency_key)

    @strawberry.mutation
    async def submit_label(
        self, info: strawberry.Info, task_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Label:
        return await r.label_call(
            info, "submit_label", lab.TaskRef(task_id=str(task_id)), idempotency_key
        )

    @strawberry.mutation
    async def skip_task(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        return await r.task_call(
            info,
            "skip_task",
            lab.SkipTaskRequest(task_id=str(task_id), reason=reason or ""),
            idempotency_key,
        )

    @strawberry.mutation(
        description="Managers and owners (and org admins) put a task back in the queue: a"
        " skipped or open task, whose leases end; or a task in rework whose rework nobody will"
        " do, whose rejected labels are dropped (they stay in the history, rejected, and their"
        " authors may not rework them) so that other annotators can label it. A task in"
        " review or done answers INVALID_INPUT."
    )
    async def requeue_task(
        self, info: strawberry.Info, task_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Task:
        return await r.requeue_task(info, str(task_id), idempotency_key)

    @strawberry.mutation(
        description="Reviewers and up, once the label's task is in review (or in rework, or"
        " done); a task still collecting its labels answers INVALID_INPUT."
    )
    async def approve_label(
        self,
        info: strawberry.Info,
        label_id: strawberry.ID,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        return await r.review_action(
            info,
            "approve_label",
            rev.ApproveLabel(label_id=str(label_id), comment=comment or ""),
            str(label_id),
            idempotency_key,
        )

    @strawberry.mutation(
        description="Reviewers and up, once the label's task is in review (or in rework, or"
        " done): the task goes to rework for the label's author. A task still collecting its"
        " labels answers INVALID_INPUT."
    )
    async def reject_label(
        self,
        info: strawberry.Info,
        label_id: strawberry.ID,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Label:
        return await r.review_action(
            info,
            "reject_label",
            rev.RejectLabel(label_id=str(label_id), reason=reason),
            str(label_id),
            idempotency_key,
        )

    @strawberry.mutation(
        description="Reviewers and up flag a submitted label, one response of it (target) or"
        " one answer of it (questionId, and target for a question asked per message or response)."
    )
    async def mark_for_review(
        self,
        info: strawberry.Info,
        label_id: strawberry.ID,
        target: TargetInput | None = None,
        note: str | None = None,
        question_id: strawberry.ID | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        return await r.review_action(
            info,
            "mark_for_review",
            rev.MarkForReview(
                label_id=str(label_id),
                note=note or "",
                target=r.target_of(target) or Target(),
                question_id=_opt(question_id),
            ),
            str(label_id),
            idempotency_key,
        )

    @strawberry.mutation(
        description="Any project member: an issue on the task, or on one of its labels (labelId),"
        " a response (target) or a question's answer (questionId)."
    )
    async def open_issue(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        body: str,
        target: TargetInput | None = None,
        label_id: strawberry.ID | None = None,
        question_id: strawberry.ID | None = None,
        idempotency_key: str | None = None,
    ) -> Issue:
        return await r.issue_action(
            info,
            "open_issue",
            rev.OpenIssue(
                task_id=str(task_id),
                body=body,
                target=r.target_of(target) or Target(),
                label_id=_opt(label_id),
                question_id=_opt(question_id),
            ),
            idempotency_key,
        )

    @strawberry.mutation
    async def comment_on_issue(
        self,
        info: strawberry.Info,
        issue_id: strawberry.ID,
        body: str,
        idempotency_key: str | None = None,
    ) -> Issue:
        return await r.issue_action(
            info,
            "comment_on_issue",
            rev.CommentOnIssue(issue_id=str(issue_id), body=body),
            idempotency_key,
        )

    @strawberry.mutation
    async def resolve_issue(
        self,
        info: strawberry.Info,
        issue_id: strawberry.ID,
        resolution: str | None = None,
        idempotency_key: str | None = None,
    ) -> Issue:
        return await r.issue_action(
            info,
            "resolve_issue",
            rev.ResolveIssue(issue_id=str(issue_id), resolution=resolution or ""),
            idempotency_key,
        )

    @strawberry.mutation
    async def set_benchmark_reference(
        self, info: strawberry.Info, label_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Label:
        return await r.review_action(
            info,
            "set_benchmark_reference",
            rev.SetBenchmarkReference(label_id=str(label_id)),
            str(label_id),
            idempotency_key,
        )


_MEMBERSHIP = ("MemberAdded", "MemberRoleChanged", "MemberRemoved")


async def _live(
    info: strawberry.Info, *, task_id: str | None, project_id: str | None, after: int | None
) -> AsyncGenerator[AuditEvent, None]:
    ctx = _ctx(info)
    identity = ctx.identity
    live = info.context["live"]
    # Taken before the roles: a membership change committed by then is in them, so it is
    # history when replayed; one the snapshot does not see is news. (The live follower's
    # position cannot tell them apart: it lags the log, more so under load.)
    seen = await committed_now(ctx.runtime.pool)
    roles = {} if identity.is_admin else await _roles_now(ctx, project_id, task_id)
    resume = None
    if after == 0:
        resume = START  # from the first event
    elif after is not None:
        resume = await live.cursor_of(identity.org_id, after)
        if resume is None:
            raise Invalid("unknown position", {"after": "no event at this position"})
    current = dict(roles)

    def learn(rec: RecordedEvent) -> None:
        """The caller's own membership changes, in log order as events are matched, so
        nothing after a removal gets through. History (a replay) never grants more than
        the caller has now; news does."""
        event = decode_event_data(rec.event_type, rec.schema_version, rec.data)
        if not isinstance(event, MemberAdded | MemberRoleChanged | MemberRemoved):
            return
        if event.user_id != identity.user_id:
            return
        if isinstance(event, MemberRemoved):
            roles.pop(event.project_id, None)
        elif event.project_id in current or not seen.sees(rec.tx_id):
            roles[event.project_id] = event.role

    def match(rec: RecordedEvent) -> bool:
        meta = rec.metadata
        if rec.event_type in _MEMBERSHIP and not identity.is_admin:
            learn(rec)
        if task_id is not None and meta.task_id != task_id:
            return False
        if project_id is not None and meta.project_id != project_id:
            return False
        return may_see(identity, roles, rec)

    authenticator = ctx.gateway.authenticator
    async for rec in live.subscribe(
        match,
        resume=resume,
        org_id=identity.org_id,
        project_id=project_id,
        task_id=task_id,
        # the caller's membership changes, wherever they happen: ``learn`` reads them
        also=frozenset(_MEMBERSHIP),
    ):
        # A connection outlives its token's revocation: ask before each delivery.
        if ctx.auth is None or not await authenticator.still_valid(ctx.auth):
            raise Unauthenticated("missing, unknown or revoked API token")
        yield AuditEvent.of(rec)


async def _roles_now(
    ctx: GatewayContext, project_id: str | None, task_id: str | None
) -> dict[str, str]:
    """The caller's project roles. The gateway's access table is a projection, a moment
    behind; for the project subscribed to (a task's, for a task) the project's owner answers
    from the project's own state."""
    identity = ctx.identity
    roles = await project_roles(ctx.runtime.pool, identity.org_id, identity.user_id)
    with contextlib.suppress(PreflogError):  # no such task or project visible: no role
        if project_id is None and task_id is not None:
            task = await ctx.call(
                "labeling", "get_task", lab.TaskRef(task_id=task_id), response_type=lab.TaskView
            )
            project_id = task.project_id
        if project_id is None:
            return roles
        roles.pop(project_id, None)
        view = await ctx.call(
            "labeling",
            "get_project",
            lab.ProjectRef(project_id=project_id),
            response_type=lab.ProjectView,
        )
        if view.my_role is not None and view.my_role != "ADMIN":
            roles[project_id] = view.my_role
    return roles


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description=(
            "Live changes to one task; `after` resumes after a position (0: from the"
            " task's first event)."
        )
    )
    async def task_events(
        self, info: strawberry.Info, task_id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[AuditEvent, None]:
        async for event in _live(info, task_id=str(task_id), project_id=None, after=after):
            yield event

    @strawberry.subscription(
        description=(
            "Live activity in a project; `after` resumes after a position (0: from the"
            " project's first event)."
        )
    )
    async def project_events(
        self, info: strawberry.Info, project_id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[AuditEvent, None]:
        async for event in _live(info, task_id=None, project_id=str(project_id), after=after):
            yield event


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with its limits: depth, tokens, complexity budget, and public errors."""
    from preflog_gateway.graphql.execution import LeafFastExecution
    from preflog_gateway.limits import complexity_rule

    # The rule classes are made once: validation depends only on the document and these
    # rules (the complexity estimate reads no variables), so its result is cached per query
    # text, like the parsed document. Without the caches parsing and validating cost about
    # half of the gateway's CPU per request; new rule classes per request would defeat them.
    rules = (
        *QueryDepthLimiter(max_depth=settings.max_query_depth).validation_rules,
        complexity_rule(settings.max_query_complexity),
        NoNulInStrings,
    )
    return PublicSchema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        # A factory, not an instance: the extension keeps per-request state.
        extensions=[lambda: GatewayRequest(rules)],
        execution_context_class=LeafFastExecution,
    )
