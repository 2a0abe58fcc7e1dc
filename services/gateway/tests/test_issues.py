"""Issues and review flags on a label's answer: a member opens an issue on one label, or on
one question's answer of it; a reviewer flags one answer. A question id must be one of the
project's questions."""

from __future__ import annotations

import uuid
from typing import Any

from .conftest import Server
from .flows import (
    CLAIM,
    SUBMIT,
    add_rows,
    data_of,
    errors_of,
    eventually,
    import_rows,
    new_dataset,
    new_member,
    new_project,
    shopping_row,
)

OPEN = """mutation($t: ID!, $l: ID, $q: ID) {
  openIssue(taskId: $t, labelId: $l, questionId: $q, body: "is this right?")
  { id labelId questionId } }"""
MARK = """mutation($l: ID!, $q: ID) {
  markForReview(labelId: $l, questionId: $q, note: "check") { id } }"""
REVIEWS = """query($l: ID!) { label(id: $l) { reviews { decision questionId comment } } }"""


async def test_an_issue_and_a_flag_on_one_answer_of_a_label(system: Server) -> None:
    dataset_id = await new_dataset(system)
    imported = await import_rows(system, dataset_id, [shopping_row(f"iss-{uuid.uuid4().hex[:8]}")])
    ontology = {"questions": [{"id": "fluent", "title": "Fluent?", "kind": "YES_NO"}]}
    project_id = await new_project(system, ontology=ontology)
    [task_id] = await add_rows(system, project_id, imported["dataRowIds"])
    _, annotator = await new_member(system, project_id, "ANNOTATOR")
    _, reviewer = await new_member(system, project_id, "REVIEWER")
    assert data_of(await system.gql(CLAIM, {"p": project_id}, token=annotator))["claimNextTask"]
    answer = 'mutation($t: ID!) { answerQuestion(taskId: $t, questionId: "fluent", answer: true)'
    answered = await system.gql(answer + " { id } }", {"t": task_id}, token=annotator)
    label_id = data_of(answered)["answerQuestion"]["id"]
    data_of(await system.gql(SUBMIT, {"t": task_id}, token=annotator))

    async def opened() -> dict[str, Any] | None:
        body = await system.gql(OPEN, {"t": task_id, "l": label_id, "q": "fluent"}, token=reviewer)
        return None if errors_of(body) else data_of(body)["openIssue"]

    issue = await eventually(opened, "review to learn of the label")
    assert (issue["labelId"], issue["questionId"]) == (label_id, "fluent")
    unknown = await system.gql(OPEN, {"t": task_id, "l": label_id, "q": "nope"}, token=annotator)
    assert errors_of(unknown)[0]["extensions"]["code"] == "INVALID_INPUT"
    assert "nope" in errors_of(unknown)[0]["message"]

    data_of(await system.gql(MARK, {"l": label_id, "q": "fluent"}, token=reviewer))
    refused = await system.gql(MARK, {"l": label_id, "q": "nope"}, token=reviewer)
    assert errors_of(refused)[0]["extensions"]["code"] == "INVALID_INPUT"
    flag = {"decision": "MARKED_FOR_REVIEW", "questionId": "fluent", "comment": "check"}

    async def flagged() -> list[dict[str, Any]] | None:  # review's read model, a moment later
        label = data_of(await system.gql(REVIEWS, {"l": label_id}, token=reviewer))["label"]
        return label["reviews"] or None

    assert await eventually(flagged, "the flag in the label's reviews") == [flag]
