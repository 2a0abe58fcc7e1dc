"""Users, organizations and API tokens."""

from __future__ import annotations

from datetime import datetime

import strawberry

from preflog_gateway.accounts.records import OrganizationRecord, TokenRecord, UserRecord
from preflog_gateway.graphql.types.enums import OrgRole


@strawberry.type
class ApiToken:
    """A token's public facts; its secret is shown only when it is created."""

    id: strawberry.ID
    name: str
    prefix: str
    created_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    @classmethod
    def of(cls, t: TokenRecord) -> ApiToken:
        return cls(
            id=strawberry.ID(t.token_id),
            name=t.name,
            prefix=t.prefix,
            created_at=t.created_at,
            last_used_at=t.last_used_at,
            revoked_at=t.revoked_at,
        )


@strawberry.type
class User:
    id: strawberry.ID
    email: str
    name: str
    org_role: OrgRole
    is_operator: bool

    @strawberry.field(description="This user's API tokens (the user themself or an org admin).")
    async def api_tokens(self, info: strawberry.Info) -> list[ApiToken]:
        ctx = info.context["ctx"]
        tokens = await ctx.gateway.accounts.tokens_of(ctx.identity, str(self.id))
        return [ApiToken.of(t) for t in tokens]

    @classmethod
    def of(cls, u: UserRecord) -> User:
        return cls(
            id=strawberry.ID(u.user_id),
            email=u.email,
            name=u.name,
            org_role=OrgRole(u.org_role),
            is_operator=u.is_operator,
        )


@strawberry.type
class Organization:
    id: strawberry.ID
    name: str

    @classmethod
    def of(cls, o: OrganizationRecord) -> Organization:
        return cls(id=strawberry.ID(o.org_id), name=o.name)


@strawberry.type
class ApiTokenSecret:
    """``token`` is the secret: shown this once, stored only as its sha256."""

    id: strawberry.ID
    token: str


@strawberry.type
class NewOrganization:
    organization: Organization
    admin: User
    token: ApiTokenSecret


@strawberry.input
class CreateUserInput:
    email: str
    name: str
    org_role: OrgRole | None = OrgRole.MEMBER
