"""What account lookups return (snake_case; the GraphQL layer renames)."""

from __future__ import annotations

from datetime import datetime

import msgspec


class UserRecord(msgspec.Struct, frozen=True, kw_only=True):
    user_id: str
    org_id: str
    email: str
    name: str
    org_role: str
    is_operator: bool = False
    created_at: datetime | None = None


class OrganizationRecord(msgspec.Struct, frozen=True, kw_only=True):
    org_id: str
    name: str


class TokenRecord(msgspec.Struct, frozen=True, kw_only=True):
    token_id: str
    user_id: str
    org_id: str
    name: str
    prefix: str
    created_at: datetime | None = None
    revoked_at: datetime | None = None
    last_used_at: datetime | None = None


class IssuedToken(msgspec.Struct, frozen=True, kw_only=True):
    """A token just issued: ``secret`` is shown this once and never stored."""

    token_id: str
    secret: str


class NewOrganization(msgspec.Struct, frozen=True, kw_only=True):
    organization: OrganizationRecord
    admin: UserRecord
    token: IssuedToken
