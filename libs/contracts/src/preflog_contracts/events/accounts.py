"""Organizations, users and API tokens."""

from __future__ import annotations

from preflog_contracts.events.base import Event


class OrganizationCreated(Event, frozen=True, kw_only=True):
    category = "org"
    org_id: str
    name: str


class UserCreated(Event, frozen=True, kw_only=True):
    category = "user"
    user_id: str
    email: str
    name: str
    org_role: str  # ADMIN | MEMBER
    is_operator: bool = False


class ApiTokenIssued(Event, frozen=True, kw_only=True):
    category = "token"
    token_id: str
    user_id: str
    name: str
    token_hash: str  # sha256 of the secret; the secret itself is never stored
    prefix: str


class ApiTokenRevoked(Event, frozen=True, kw_only=True):
    category = "token"
    token_id: str
    user_id: str
