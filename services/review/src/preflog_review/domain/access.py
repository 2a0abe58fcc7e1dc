"""Who may do what in the review service (DOMAIN.md's role matrix), as pure checks.

A caller is described by their project role (None when not a member) and whether they are
an admin of the project's org. Org admins hold the org-admin column: they see every label,
agreement and leaderboard, but review actions and issues need a project role.
"""

from __future__ import annotations

from preflog_contracts.errors import Forbidden

PROJECT_ROLES = ("ANNOTATOR", "REVIEWER", "MANAGER", "OWNER")
REVIEWER_ROLES = frozenset({"REVIEWER", "MANAGER", "OWNER"})


def can_review(role: str | None) -> bool:
    """Approve, reject, mark for review, set a benchmark reference, resolve issues."""
    return role in REVIEWER_ROLES


MANAGER_ROLES = frozenset({"MANAGER", "OWNER"})


def can_manage(role: str | None, is_org_admin: bool) -> bool:
    """Requeue tasks (DOMAIN.md: a manager can requeue)."""
    return is_org_admin or role in MANAGER_ROLES


def can_see_quality(role: str | None, is_org_admin: bool) -> bool:
    """Every label of the project, review queue, agreement, leaderboard, scores."""
    return is_org_admin or role in REVIEWER_ROLES


def can_report(role: str | None) -> bool:
    """Open and comment on issues: any project member."""
    return role in PROJECT_ROLES


def can_read_issues(role: str | None, is_org_admin: bool) -> bool:
    return is_org_admin or role in PROJECT_ROLES


def require(allowed: bool, action: str) -> None:
    """Raise ``Forbidden`` (no event is appended) unless ``allowed``."""
    if not allowed:
        raise Forbidden(f"your role does not allow you to {action}")


def acting_role(role: str | None, is_org_admin: bool) -> str:
    """The role recorded in event metadata."""
    return role or ("ADMIN" if is_org_admin else "NONE")
