"""The GraphQL schema of API.md: Query, Mutation, Subscription, and its extensions."""

from __future__ import annotations

from collections.abc import AsyncGenerator
from datetime import datetime

import strawberry
from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.errors import Invalid, NotFound
from preflog_settings import Settings
from strawberry.extensions import AddValidationRules, MaxTokensLimiter, QueryDepthLimiter
from strawberry.scalars import JSON

from preflog_gateway.accounts.access import project_roles
from preflog_gateway.accounts.visibility import may_see
from preflog_gateway.graphql.audit import audit_page, decode_cursor
from preflog_gateway.graphql.backends import not_wired
from preflog_gateway.graphql.context import GatewayContext
from preflog_gateway.graphql.errors import PublicErrors
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
from preflog_gateway.graphql.types.enums import ProjectRole
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


def _ctx(info: strawberry.Info) -> GatewayContext:
    ctx: GatewayContext = info.context["ctx"]
    return ctx


def check_page_size(first: int, maximum: int) -> None:
    if first < 0 or first > maximum:
        raise Invalid("page size out of range", {"first": f"must be between 0 and {maximum}"})


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
        not_wired("ingest", "dataset")

    @strawberry.field
    async def datasets(self, info: strawberry.Info) -> list[Dataset]:
        not_wired("ingest", "datasets")

    @strawberry.field
    async def data_row(
        self, info: strawberry.Info, id: strawberry.ID | None = None, global_key: str | None = None
    ) -> DataRow | None:
        not_wired("ingest", "dataRow")

    @strawberry.field
    async def project(self, info: strawberry.Info, id: strawberry.ID) -> Project | None:
        not_wired("labeling", "project")

    @strawberry.field
    async def projects(self, info: strawberry.Info) -> list[Project]:
        not_wired("labeling", "projects")

    @strawberry.field
    async def task(self, info: strawberry.Info, id: strawberry.ID) -> Task | None:
        not_wired("labeling", "task")

    @strawberry.field
    async def label(self, info: strawberry.Info, id: strawberry.ID) -> Label | None:
        not_wired("labeling", "label")

    @strawberry.field(description="The caller's organization's log, filtered, oldest first.")
    async def audit_log(
        self,
        info: strawberry.Info,
        filter: AuditFilter,
        first: int = 100,
        after: str | None = None,
    ) -> AuditEventConnection:
        ctx = _ctx(info)
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

    @strawberry.field(description="The task as it was at that time (a fold of its log).")
    async def task_as_of(
        self, info: strawberry.Info, task_id: strawberry.ID, at: datetime
    ) -> Task | None:
        not_wired("labeling", "taskAsOf")

    @strawberry.field
    async def leaderboard(self, info: strawberry.Info, project_id: strawberry.ID) -> Leaderboard:
        not_wired("review", "leaderboard")

    @strawberry.field
    async def agreement(self, info: strawberry.Info, project_id: strawberry.ID) -> AgreementReport:
        not_wired("review", "agreement")


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
            correlation_id=ctx.correlation_id,
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
            org_role=input.org_role.value,
            idempotency_key=idempotency_key,
            correlation_id=ctx.correlation_id,
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
            idempotency_key=idempotency_key,
            correlation_id=ctx.correlation_id,
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
            idempotency_key=idempotency_key,
            correlation_id=ctx.correlation_id,
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
        not_wired("ingest", "createDataset")

    @strawberry.mutation
    async def import_data_rows(
        self,
        info: strawberry.Info,
        dataset_id: strawberry.ID,
        rows: list[JSON],
        idempotency_key: str | None = None,
    ) -> ImportResult:
        not_wired("ingest", "importDataRows")

    @strawberry.mutation
    async def create_project(
        self, info: strawberry.Info, input: CreateProjectInput, idempotency_key: str | None = None
    ) -> Project:
        not_wired("labeling", "createProject")

    @strawberry.mutation
    async def update_ontology(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        ontology: OntologyInput,
        idempotency_key: str | None = None,
    ) -> Project:
        not_wired("labeling", "updateOntology")

    @strawberry.mutation
    async def update_project_settings(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        settings: ProjectSettingsInput,
        idempotency_key: str | None = None,
    ) -> Project:
        not_wired("labeling", "updateProjectSettings")

    @strawberry.mutation
    async def add_project_member(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        user_id: strawberry.ID,
        role: ProjectRole,
        idempotency_key: str | None = None,
    ) -> ProjectMember:
        not_wired("labeling", "addProjectMember")

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
        not_wired("labeling", "addDataRowsToProject")

    @strawberry.mutation
    async def import_pre_labels(
        self,
        info: strawberry.Info,
        project_id: strawberry.ID,
        annotations: list[JSON],
        idempotency_key: str | None = None,
    ) -> ImportResult:
        not_wired("ingest", "importPreLabels")

    @strawberry.mutation(description="Null when the queue is empty.")
    async def claim_next_task(
        self, info: strawberry.Info, project_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Task | None:
        not_wired("labeling", "claimNextTask")

    @strawberry.mutation
    async def release_task(
        self, info: strawberry.Info, task_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Task:
        not_wired("labeling", "releaseTask")

    @strawberry.mutation(description="Rank 1 is best.")
    async def rank_responses(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        ranking: list[RankInput],
        prompt_id: strawberry.ID | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        not_wired("labeling", "rankResponses")

    @strawberry.mutation
    async def crown_response(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        response_id: strawberry.ID,
        prompt_id: strawberry.ID | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        not_wired("labeling", "crownResponse")

    @strawberry.mutation
    async def edit_response(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        response_id: strawberry.ID,
        content: str,
        idempotency_key: str | None = None,
    ) -> Label:
        not_wired("labeling", "editResponse")

    @strawberry.mutation
    async def add_response(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        content: str,
        prompt_id: strawberry.ID | None = None,
        model_config_name: str | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        not_wired("labeling", "addResponse")

    @strawberry.mutation
    async def delete_response(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        response_id: strawberry.ID,
        idempotency_key: str | None = None,
    ) -> Label:
        not_wired("labeling", "deleteResponse")

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
        not_wired("labeling", "answerQuestion")

    @strawberry.mutation
    async def add_comment(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        body: str,
        target: TargetInput | None = None,
        idempotency_key: str | None = None,
    ) -> Comment:
        not_wired("labeling", "addComment")

    @strawberry.mutation
    async def undo(
        self, info: strawberry.Info, task_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Label:
        not_wired("labeling", "undo")

    @strawberry.mutation
    async def redo(
        self, info: strawberry.Info, task_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Label:
        not_wired("labeling", "redo")

    @strawberry.mutation
    async def submit_label(
        self, info: strawberry.Info, task_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Label:
        not_wired("labeling", "submitLabel")

    @strawberry.mutation
    async def skip_task(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        reason: str | None = None,
        idempotency_key: str | None = None,
    ) -> Task:
        not_wired("labeling", "skipTask")

    @strawberry.mutation
    async def approve_label(
        self,
        info: strawberry.Info,
        label_id: strawberry.ID,
        comment: str | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        not_wired("review", "approveLabel")

    @strawberry.mutation
    async def reject_label(
        self,
        info: strawberry.Info,
        label_id: strawberry.ID,
        reason: str,
        idempotency_key: str | None = None,
    ) -> Label:
        not_wired("review", "rejectLabel")

    @strawberry.mutation
    async def mark_for_review(
        self,
        info: strawberry.Info,
        label_id: strawberry.ID,
        target: TargetInput | None = None,
        note: str | None = None,
        idempotency_key: str | None = None,
    ) -> Label:
        not_wired("review", "markForReview")

    @strawberry.mutation
    async def open_issue(
        self,
        info: strawberry.Info,
        task_id: strawberry.ID,
        body: str,
        target: TargetInput | None = None,
        idempotency_key: str | None = None,
    ) -> Issue:
        not_wired("review", "openIssue")

    @strawberry.mutation
    async def comment_on_issue(
        self,
        info: strawberry.Info,
        issue_id: strawberry.ID,
        body: str,
        idempotency_key: str | None = None,
    ) -> Issue:
        not_wired("review", "commentOnIssue")

    @strawberry.mutation
    async def resolve_issue(
        self,
        info: strawberry.Info,
        issue_id: strawberry.ID,
        resolution: str | None = None,
        idempotency_key: str | None = None,
    ) -> Issue:
        not_wired("review", "resolveIssue")

    @strawberry.mutation
    async def set_benchmark_reference(
        self, info: strawberry.Info, label_id: strawberry.ID, idempotency_key: str | None = None
    ) -> Label:
        not_wired("review", "setBenchmarkReference")


async def _live(
    info: strawberry.Info, *, task_id: str | None, project_id: str | None, after: int | None
) -> AsyncGenerator[AuditEvent, None]:
    ctx = _ctx(info)
    identity = ctx.identity
    live = info.context["live"]
    pool = ctx.runtime.pool
    roles = (
        {} if identity.is_admin else await project_roles(pool, identity.org_id, identity.user_id)
    )
    resume = None
    if after is not None:
        resume = await live.cursor_of(identity.org_id, after)
        if resume is None:
            raise Invalid("unknown position", {"after": "no event at this position"})

    def match(rec: RecordedEvent) -> bool:
        meta = rec.metadata
        if task_id is not None and meta.task_id != task_id:
            return False
        if project_id is not None and meta.project_id != project_id:
            return False
        return may_see(identity, roles, rec)

    async for rec in live.subscribe(match, resume=resume):
        if rec.event_type in ("MemberAdded", "MemberRoleChanged") and not identity.is_admin:
            roles.clear()
            roles.update(await project_roles(pool, identity.org_id, identity.user_id))
        yield AuditEvent.of(rec)


@strawberry.type
class Subscription:
    @strawberry.subscription(
        description="Live changes to one task; `after` resumes after a position."
    )
    async def task_events(
        self, info: strawberry.Info, task_id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[AuditEvent, None]:
        async for event in _live(info, task_id=str(task_id), project_id=None, after=after):
            yield event

    @strawberry.subscription(
        description="Live activity in a project; `after` resumes after a position."
    )
    async def project_events(
        self, info: strawberry.Info, project_id: strawberry.ID, after: int | None = None
    ) -> AsyncGenerator[AuditEvent, None]:
        async for event in _live(info, task_id=None, project_id=str(project_id), after=after):
            yield event


def build_schema(settings: Settings) -> strawberry.Schema:
    """The schema with its limits: depth, tokens, complexity budget, and public errors."""
    from preflog_gateway.limits import complexity_rule

    return strawberry.Schema(
        query=Query,
        mutation=Mutation,
        subscription=Subscription,
        extensions=[
            QueryDepthLimiter(max_depth=settings.max_query_depth),
            MaxTokensLimiter(max_token_count=20_000),
            AddValidationRules([complexity_rule(settings.max_query_complexity)]),
            PublicErrors(),
        ],
    )
