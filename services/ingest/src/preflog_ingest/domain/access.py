"""Who may do what in the catalog (DOMAIN.md's matrix, read for ingest).

- Create datasets: org ADMIN.
- Import data rows into a dataset: org ADMIN, or anyone who is MANAGER or OWNER of at least
  one project of the org ("upload data" is a manager's right; datasets are org-wide).
- Import pre-labels into a project: org ADMIN, or MANAGER/OWNER of that project.
- Read datasets and data rows: any member of the org.
"""

from __future__ import annotations

from collections.abc import Collection

from preflog_contracts.errors import Forbidden
from preflog_contracts.identity import Identity

MANAGING_ROLES = frozenset({"MANAGER", "OWNER"})


def require_admin(identity: Identity, action: str) -> str:
    """The actor role for the event metadata; Forbidden unless the caller is an org ADMIN."""
    if not identity.is_admin:
        raise Forbidden(f"only an organization admin may {action}")
    return "ADMIN"


def require_manager(identity: Identity, project_roles: Collection[str], action: str) -> str:
    """The actor role (ADMIN, OWNER or MANAGER); Forbidden when ``project_roles`` (the
    caller's roles in the projects that matter) hold neither OWNER nor MANAGER."""
    if identity.is_admin:
        return "ADMIN"
    if "OWNER" in project_roles:
        return "OWNER"
    if "MANAGER" in project_roles:
        return "MANAGER"
    raise Forbidden(f"only an organization admin or a project manager may {action}")
