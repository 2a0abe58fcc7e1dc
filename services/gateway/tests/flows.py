"""What several gateway tests do through HTTP: import rows, make projects, wait for services
to learn each other's events."""

from __future__ import annotations

import asyncio
import json
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path
from typing import Any, TypeVar

from .conftest import Server

REPO_ROOT = Path(__file__).resolve().parents[3]
FIXTURES = (REPO_ROOT / "../shared/fixtures").resolve()
T = TypeVar("T")

# An annotator's claim (with the prompts' responses to act on), crown and submission.
CLAIM = """mutation($p: ID!) { claimNextTask(projectId: $p) {
  id dataRow { prompts { id responses { id } } } } }"""
CROWN = "mutation($t: ID!, $r: ID!) { crownResponse(taskId: $t, responseId: $r) { id } }"
SUBMIT = "mutation($t: ID!) { submitLabel(taskId: $t) { id status } }"


def fixture(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


def shopping_row(global_key: str) -> dict[str, Any]:
    """A Labelbox import-file row: the v1 shopping conversation under ``global_key``."""
    return {"row_data": fixture("labelbox/v1_shopping.json"), "global_key": global_key}


def errors_of(body: dict[str, Any]) -> list[dict[str, Any]]:
    return list(body.get("errors") or [])


def data_of(body: dict[str, Any]) -> dict[str, Any]:
    assert not body.get("errors"), body["errors"]
    data: dict[str, Any] = body["data"]
    return data


async def eventually(check: Callable[[], Awaitable[T | None]], what: str) -> T:
    """``check()`` once it is not None (services learn each other's events asynchronously)."""
    for _ in range(300):
        found = await check()
        if found is not None:
            return found
        await asyncio.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")


async def new_dataset(server: Server, name: str | None = None) -> str:
    body = await server.gql(
        'mutation($n: String!) { createDataset(name: $n, description: "d") { id } }',
        {"n": name or f"ds-{uuid.uuid4().hex[:8]}"},
    )
    return str(data_of(body)["createDataset"]["id"])


async def import_rows(server: Server, dataset_id: str, rows: list[Any]) -> dict[str, Any]:
    body = await server.gql(
        """mutation($d: ID!, $rows: [JSON!]!) { importDataRows(datasetId: $d, rows: $rows) {
             accepted rejected duplicates dataRowIds
             errors { index globalKey code message path } } }""",
        {"d": dataset_id, "rows": rows},
    )
    result: dict[str, Any] = data_of(body)["importDataRows"]
    return result


async def new_project(server: Server, **fields: Any) -> str:
    """A project (CreateProjectInput ``fields``, camelCase); the caller becomes its owner."""
    body = await server.gql(
        "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
        {"i": {"name": f"p-{uuid.uuid4().hex[:8]}", **fields}},
    )
    return str(data_of(body)["createProject"]["id"])


async def add_rows(server: Server, project_id: str, data_row_ids: list[str]) -> list[str]:
    """Add rows to the project (straight after their import: labeling waits for the rows
    ingest has and it has yet to learn); the new tasks' ids."""
    body = await server.gql(
        """mutation($p: ID!, $ids: [ID!]) {
             addDataRowsToProject(projectId: $p, dataRowIds: $ids) { id size taskIds } }""",
        {"p": project_id, "ids": data_row_ids},
    )
    return [str(t) for t in data_of(body)["addDataRowsToProject"]["taskIds"]]


async def new_member(server: Server, project_id: str, role: str) -> tuple[str, str]:
    """A new org MEMBER with ``role`` in the project: (user id, token)."""
    email = f"{uuid.uuid4().hex[:8]}@example.com"
    made = await server.gql(
        'mutation($e: String!) { createUser(input: {email: $e, name: "M"}) { id } }', {"e": email}
    )
    user_id = str(data_of(made)["createUser"]["id"])
    token = await server.gql(
        'mutation($u: ID!) { createApiToken(userId: $u, name: "t") { token } }', {"u": user_id}
    )
    await server.gql(
        "mutation($p: ID!, $u: ID!, $r: ProjectRole!) {"
        " addProjectMember(projectId: $p, userId: $u, role: $r) { role } }",
        {"p": project_id, "u": user_id, "r": role},
    )
    return user_id, str(data_of(token)["createApiToken"]["token"])


async def other_org_token(server: Server) -> str:
    """The admin token of a new organization."""
    made = await server.gql(
        """mutation($e: String!) { createOrganization(name: "Else", adminEmail: $e, adminName: "E")
           { token { token } } }""",
        {"e": f"{uuid.uuid4().hex[:8]}@else.example"},
    )
    return str(data_of(made)["createOrganization"]["token"]["token"])


async def issue_opened(server: Server, task_id: str) -> str | None:
    """An issue opened on the task, or None while review has yet to learn of the task (use
    with :func:`eventually`)."""
    body = await server.gql(
        'mutation($t: ID!) { openIssue(taskId: $t, body: "b") { id } }', {"t": task_id}
    )
    return None if body.get("errors") else str(body["data"]["openIssue"]["id"])
