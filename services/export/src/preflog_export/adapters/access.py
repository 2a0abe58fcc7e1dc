"""Who may export a project: its managers and owners, and admins of its org."""

from __future__ import annotations

import asyncpg

from preflog_contracts.errors import Forbidden, NotFound
from preflog_contracts.events.projects import Question
from preflog_contracts.identity import Identity
from preflog_export.adapters.read_model import questions_decoder
from preflog_export.domain.rendering import ProjectView

EXPORT_ROLES = frozenset({"MANAGER", "OWNER"})


async def project_for_export(
    pool: asyncpg.Pool, identity: Identity, project_id: str
) -> tuple[ProjectView, str]:
    """The project and the role the caller exports it in (MANAGER, OWNER, or ADMIN for an
    org admin without either), if ``identity`` may export it. NotFound for a project that
    does not exist or belongs to another org (the same answer, so other orgs learn nothing);
    Forbidden for a member of the org without the manager or owner role."""
    row = await pool.fetchrow(
        "select p.org_id::text, p.name, p.rank_mode, p.questions, m.role"
        " from export.projects p left join export.members m"
        " on m.project_id = p.project_id and m.user_id = $2"
        " where p.project_id = $1",
        project_id,
        identity.user_id,
    )
    if row is None or row[0] != identity.org_id:
        raise NotFound("project not found")
    if row[4] in EXPORT_ROLES:
        return _view(row[1], row[2], row[3]), str(row[4])
    if not identity.is_admin:
        raise Forbidden("exporting needs the manager or owner role on the project")
    return _view(row[1], row[2], row[3]), "ADMIN"


async def project_view(pool: asyncpg.Pool, project_id: str) -> ProjectView | None:
    """The project's shared fields, without any access check (for system work)."""
    row = await pool.fetchrow(
        "select name, rank_mode, questions from export.projects where project_id = $1",
        project_id,
    )
    return None if row is None else _view(row[0], row[1], row[2])


def _view(name: str, rank_mode: str, questions_blob: bytes | None) -> ProjectView:
    questions: list[Question] = questions_decoder.decode(questions_blob) if questions_blob else []
    return ProjectView(name=name, rank_mode=rank_mode, questions=questions)
