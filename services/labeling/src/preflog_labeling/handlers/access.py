"""Roles inside the service: the caller's role in a project and the checks per action."""

from __future__ import annotations

from preflog_contracts.errors import Forbidden
from preflog_contracts.identity import Identity
from preflog_labeling.domain.project import ProjectState
from preflog_labeling.domain.roles import Permission, effective_role, is_allowed


def role_in(project: ProjectState, ident: Identity) -> str | None:
    """The caller's acting role (project role, else ADMIN for org admins, else None)."""
    return effective_role(project.members.get(ident.user_id), ident.is_admin)


def require(project: ProjectState, ident: Identity, permission: Permission) -> str:
    """The role to record in event metadata; Forbidden (no event) when the matrix says no."""
    member_role = project.members.get(ident.user_id)
    if not is_allowed(member_role, ident.is_admin, permission):
        raise Forbidden(f"your role may not {permission.value}")
    if member_role is not None and is_allowed(member_role, False, permission):
        return member_role
    return "ADMIN"
