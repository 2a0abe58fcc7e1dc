"""Who may do what (DOMAIN.md, "Roles and what they may do"), per project role or org admin."""

from __future__ import annotations

from enum import StrEnum

ADMIN = "ADMIN"
PROJECT_ROLES = ("OWNER", "MANAGER", "REVIEWER", "ANNOTATOR")


class Permission(StrEnum):
    SEE_PROJECT = "see the project"
    ANNOTATE = "claim tasks and label them"
    SEE_ALL_LABELS = "see every label in the project"
    MANAGE_DATA = "add data rows to the project"
    CONFIGURE = "set the ontology and project settings"
    MANAGE_MEMBERS = "manage members"
    REQUEUE = "requeue tasks"
    CHANGE_OWNERS = "change owners or archive the project"


_LABELERS = {"ANNOTATOR", "REVIEWER", "MANAGER", "OWNER"}
_REVIEWERS = {"REVIEWER", "MANAGER", "OWNER", ADMIN}
_MANAGERS = {"MANAGER", "OWNER", ADMIN}

_MATRIX: dict[Permission, set[str]] = {
    Permission.SEE_PROJECT: _LABELERS | {ADMIN},
    # The org admin column has no "claim / rank / crown ...": admins label only as members.
    Permission.ANNOTATE: _LABELERS,
    Permission.SEE_ALL_LABELS: _REVIEWERS,
    Permission.MANAGE_DATA: _MANAGERS,
    Permission.CONFIGURE: _MANAGERS,
    Permission.MANAGE_MEMBERS: _MANAGERS,
    Permission.REQUEUE: _MANAGERS,
    Permission.CHANGE_OWNERS: {"OWNER", ADMIN},
}


def effective_role(project_role: str | None, org_admin: bool) -> str | None:
    """The role an action is taken in: the project role, else ADMIN for org admins.

    A member's project role wins so that an admin who is also an annotator acts as one
    (and may label); an admin who is not a member acts as ADMIN.
    """
    if project_role is not None:
        return project_role
    return ADMIN if org_admin else None


def roles_allowed(permission: Permission) -> set[str]:
    return set(_MATRIX[permission])


def is_allowed(project_role: str | None, org_admin: bool, permission: Permission) -> bool:
    """True when a caller with ``project_role`` (None: not a member) may act.

    An org admin who is also a member gets the union of both columns.
    """
    roles = _MATRIX[permission]
    if project_role is not None and project_role in roles:
        return True
    return org_admin and ADMIN in roles
