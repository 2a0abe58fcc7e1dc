"""A caller of another organization learns nothing from ids it guesses: a real id of ours
answers exactly as an id that exists nowhere, with the same error, and costs the same
service calls. Equal work is the structural form of "no timing difference" (a test of the
latencies themselves would measure the machine's noise, not the code)."""

from __future__ import annotations

import re
import uuid
from typing import Any

from .conftest import Server
from .flows import (
    add_rows,
    data_of,
    import_rows,
    new_dataset,
    new_member,
    new_project,
    other_org_token,
    shopping_row,
)

CLAIM = """mutation($p: ID!) { claimNextTask(projectId: $p) {
  id labels { id } dataRow { id prompts { id responses { id } } } } }"""

# (operation, the variable that carries the guessed id, the kind of id it is)
PROBES: list[tuple[str, str, str]] = [
    ("query($x: ID!) { dataset(id: $x) { id name } }", "x", "dataset"),
    ("query($x: ID) { dataRow(id: $x) { id globalKey } }", "x", "row"),
    ("query($x: ID!) { project(id: $x) { id name } }", "x", "project"),
    ("query($x: ID!) { task(id: $x) { id status } }", "x", "task"),
    ("query($x: ID!) { label(id: $x) { id status } }", "x", "label"),
    (
        'query($x: ID!) { taskAsOf(taskId: $x, at: "2030-01-01T00:00:00Z") { id status } }',
        "x",
        "task",
    ),
    ("query($x: ID!) { leaderboard(projectId: $x) { comparisons } }", "x", "project"),
    ("query($x: ID!) { agreement(projectId: $x) { consensusScore } }", "x", "project"),
    ("mutation($x: ID!) { claimNextTask(projectId: $x) { id } }", "x", "project"),
    ('mutation($x: ID!) { crownResponse(taskId: $x, responseId: "r") { id } }', "x", "task"),
    ("mutation($x: ID!) { submitLabel(taskId: $x) { id } }", "x", "task"),
    ('mutation($x: ID!) { openIssue(taskId: $x, body: "b") { id } }', "x", "task"),
    ("mutation($x: ID!) { approveLabel(labelId: $x) { id } }", "x", "label"),
    (
        'mutation($x: ID!) { addDataRowsToProject(projectId: $x, dataRowIds: ["r"]) { id } }',
        "x",
        "project",
    ),
]


def shape(body: dict[str, Any], guessed: str) -> Any:
    """The answer with the guessed id written as ``<id>`` (an error may name the id asked)."""
    errors = [
        {
            "message": re.sub(re.escape(guessed), "<id>", e["message"]),
            **{k: v for k, v in e.items() if k not in ("message", "locations")},
        }
        for e in body.get("errors") or []
    ]
    return body.get("data"), errors


async def test_a_real_id_of_another_org_answers_and_costs_as_a_made_up_one(
    system: Server,
) -> None:
    dataset_id = await new_dataset(system)
    imported = await import_rows(system, dataset_id, [shopping_row(f"foreign-{uuid.uuid4()}")])
    [row_id] = imported["dataRowIds"]
    project_id = await new_project(system)
    [task_id] = await add_rows(system, project_id, [row_id])
    _, annotator = await new_member(system, project_id, "ANNOTATOR")
    task = data_of(await system.gql(CLAIM, {"p": project_id}, token=annotator))["claimNextTask"]
    assert task["id"] == task_id
    label_id = task["labels"][0]["id"]
    data_of(
        await system.gql(
            "mutation($t: ID!) { submitLabel(taskId: $t) { id } }", {"t": task_id}, token=annotator
        )
    )
    ours = {
        "dataset": dataset_id,
        "row": row_id,
        "project": project_id,
        "task": task_id,
        "label": label_id,
    }
    stranger = await other_org_token(system)

    async def ask(query: str, variable: str, value: str) -> tuple[Any, int]:
        before = system.runtime.rpc.calls
        body = await system.gql(query, {variable: value}, token=stranger)
        return shape(body, value), system.runtime.rpc.calls - before

    for query, variable, kind in PROBES:
        await ask(query, variable, str(uuid.uuid4()))  # warm whatever the first call warms
        real = await ask(query, variable, ours[kind])
        made_up = await ask(query, variable, str(uuid.uuid4()))
        assert real == made_up, (query, real, made_up)
        answer, calls = real
        assert calls >= 1, query  # it reached the owning service
        data, errors = answer
        # and it is a refusal or nothing at all, never our object
        assert errors or not any((data or {}).values()), (query, answer)
