"""addResponse with mediaUrl: a response that is a URL to media the client streams, marked
as such in the label and in the task's row."""

from __future__ import annotations

import uuid

from .conftest import Server
from .flows import (
    CLAIM,
    add_rows,
    data_of,
    errors_of,
    import_rows,
    new_dataset,
    new_member,
    new_project,
    shopping_row,
)

ADD = """mutation($t: ID!, $u: String, $m: String) {
  addResponse(taskId: $t, content: "my clip", mediaUrl: $u, mimetype: $m)
  { edits { responseId kind streamed content(format: TEXT) } } }"""
ROW = """query($t: ID!) { task(id: $t) { dataRow { prompts { responses { id streamed } } } } }"""


async def test_an_added_media_response_is_marked_streamed(system: Server) -> None:
    dataset_id = await new_dataset(system)
    imported = await import_rows(system, dataset_id, [shopping_row(f"med-{uuid.uuid4().hex[:8]}")])
    project_id = await new_project(system, settings={"allowResponseAdd": True})
    [task_id] = await add_rows(system, project_id, imported["dataRowIds"])
    _, annotator = await new_member(system, project_id, "ANNOTATOR")
    assert data_of(await system.gql(CLAIM, {"p": project_id}, token=annotator))["claimNextTask"]

    url = "https://cdn.example.com/clip.mp4"
    added = await system.gql(ADD, {"t": task_id, "u": url, "m": "video/mp4"}, token=annotator)
    [edit] = data_of(added)["addResponse"]["edits"]
    assert (edit["kind"], edit["streamed"]) == ("ADDED", True)
    assert "my clip" in edit["content"] and url in edit["content"]
    text = data_of(await system.gql(ADD, {"t": task_id}, token=annotator))["addResponse"]["edits"]
    assert [e["streamed"] for e in text] == [True, False]  # a plain text response is not
    row = data_of(await system.gql(ROW, {"t": task_id}, token=annotator))["task"]["dataRow"]
    streamed = {r["id"]: r["streamed"] for p in row["prompts"] for r in p["responses"]}
    assert streamed[edit["responseId"]] is True and list(streamed.values()).count(True) == 1

    refused = await system.gql(ADD, {"t": task_id, "u": "javascript:alert(1)"}, token=annotator)
    assert errors_of(refused)[0]["extensions"]["code"] == "INVALID_INPUT"
