"""Pure rules of accounts: who may create what, input checks, and token secrets' shape.

No I/O here: handlers load what these functions need and append what they return.
"""

from __future__ import annotations

import hashlib
import re

from preflog_contracts.errors import Forbidden, Invalid
from preflog_contracts.events.accounts import (
    ApiTokenIssued,
    ApiTokenRevoked,
    OrganizationCreated,
    UserCreated,
)
from preflog_contracts.identity import Identity

ORG_ROLES = ("ADMIN", "MEMBER")
TOKEN_PREFIX = "pfl_"
_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+$")
MAX_NAME = 200


def token_hash(secret: str) -> str:
    """The stored form of a token secret (sha256 hex); the secret itself is never stored."""
    return hashlib.sha256(secret.encode()).hexdigest()


def token_display_prefix(secret: str) -> str:
    """The first characters of a secret, kept so an admin can tell tokens apart."""
    return secret[: len(TOKEN_PREFIX) + 6]


def looks_like_token(secret: str) -> bool:
    return secret.startswith(TOKEN_PREFIX) and 20 <= len(secret) <= 200


def normalise_email(email: str) -> str:
    return email.strip().lower()


def check_user_input(email: str, name: str, org_role: str, *, prefix: str = "") -> None:
    """Raises Invalid with a field per problem."""
    fields: dict[str, str] = {}
    if not _EMAIL.match(email.strip()) or len(email) > 320:
        fields[prefix + "email"] = "not an email address"
    if not name.strip() or len(name) > MAX_NAME:
        fields[prefix + "name"] = f"must be 1 to {MAX_NAME} characters"
    if org_role not in ORG_ROLES:
        fields[prefix + "orgRole"] = "must be ADMIN or MEMBER"
    if fields:
        raise Invalid("invalid user", fields)


def create_organization(
    actor: Identity | None,
    *,
    org_id: str,
    name: str,
    admin_user_id: str,
    admin_email: str,
    admin_name: str,
    operator: bool = False,
) -> tuple[OrganizationCreated, UserCreated]:
    """A new org and its first admin. Only a platform operator (or the system, ``actor=None``,
    at bootstrap) may do it; ``operator`` makes the admin a platform operator (bootstrap only)."""
    if actor is not None and not actor.is_operator:
        raise Forbidden("only a platform operator may create organizations")
    if not name.strip() or len(name) > MAX_NAME:
        raise Invalid("invalid organization", {"name": f"must be 1 to {MAX_NAME} characters"})
    check_user_input(admin_email, admin_name, "ADMIN", prefix="admin")
    return (
        OrganizationCreated(org_id=org_id, name=name.strip()),
        UserCreated(
            user_id=admin_user_id,
            email=normalise_email(admin_email),
            name=admin_name.strip(),
            org_role="ADMIN",
            is_operator=operator and actor is None,
        ),
    )


def create_user(
    actor: Identity, *, user_id: str, email: str, name: str, org_role: str
) -> UserCreated:
    """A user in the actor's org; org admins only."""
    if not actor.is_admin:
        raise Forbidden("only an organization admin may create users")
    check_user_input(email, name, org_role)
    return UserCreated(
        user_id=user_id, email=normalise_email(email), name=name.strip(), org_role=org_role
    )


def issue_token(
    actor: Identity | None, *, owner_id: str, owner_org: str, token_id: str, name: str, secret: str
) -> ApiTokenIssued:
    """A token for ``owner_id``: by an admin of the owner's org (or the system at bootstrap)."""
    if actor is not None and not (actor.is_admin and actor.org_id == owner_org):
        raise Forbidden("only an organization admin may create tokens")
    if not name.strip() or len(name) > MAX_NAME:
        raise Invalid("invalid token", {"name": f"must be 1 to {MAX_NAME} characters"})
    return ApiTokenIssued(
        token_id=token_id,
        user_id=owner_id,
        name=name.strip(),
        token_hash=token_hash(secret),
        prefix=token_display_prefix(secret),
    )


def revoke_token(actor: Identity, *, token_id: str, owner_id: str) -> ApiTokenRevoked:
    """Revoked by its owner or an admin of its org (the caller has checked the org)."""
    if not (actor.is_admin or actor.user_id == owner_id):
        raise Forbidden("only the token's owner or an organization admin may revoke it")
    return ApiTokenRevoked(token_id=token_id, user_id=owner_id)
