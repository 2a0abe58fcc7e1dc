"""Who may do what in the catalog (DOMAIN.md's matrix, read for ingest).

- Create datasets: org ADMIN.
- Import data rows into a dataset: org ADMIN, or anyone who is MANAGER or OWNER of at least
  one project of the org ("upload data" is a manager's right; datasets are org-wide).
- Import pre-labels into a project: org ADMIN, or MANAGER/OWNER of that project.
- Browse the catalog (the list of datasets, a dataset's rows, any data row): org ADMIN, or
  MANAGER or OWNER of at least one project of the org, who pick the rows their projects get.
- A dataset by its id (name and counts, no content): any member of the org.
- A data row for anyone else: the rows of the projects where they are a REVIEWER. Annotators
  see a row through the tasks they work on (labeling's task view), not through the catalog:
  a vendor's catalog holds every client's conversations.
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


def may_browse_catalog(identity: Identity, project_roles: Collection[str]) -> bool:
    """True for an org ADMIN and for a MANAGER or OWNER of some project (``project_roles``)."""
    return identity.is_admin or not MANAGING_ROLES.isdisjoint(project_roles)


def require_catalog_reader(identity: Identity, project_roles: Collection[str]) -> None:
    """Forbidden unless the caller may browse the catalog (``may_browse_catalog``)."""
    if not may_browse_catalog(identity, project_roles):
        raise Forbidden(
            "only an organization admin or a project manager or owner may browse the catalog;"
            " a task shows the data row it is about"
        )


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
