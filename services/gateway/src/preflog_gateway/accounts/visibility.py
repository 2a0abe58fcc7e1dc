"""Which events of the log a caller may see (pure)."""

from __future__ import annotations

from collections.abc import Mapping

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.identity import Identity

PROJECT_WIDE_ROLES = frozenset({"OWNER", "MANAGER", "REVIEWER"})


def may_see(identity: Identity, roles: Mapping[str, str], event: RecordedEvent) -> bool:
    """Org admins see their org's whole log; reviewers and above see their projects' events;
    everyone sees their own actions. Nothing of another org, ever."""
    if event.org_id != identity.org_id:
        return False
    if identity.is_admin or event.metadata.actor_id == identity.user_id:
        return True
    project_id = event.metadata.project_id
    return project_id is not None and roles.get(project_id) in PROJECT_WIDE_ROLES
