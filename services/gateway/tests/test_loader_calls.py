"""A page of 100 tasks with their data rows, labels and the rest costs a bounded number of
service calls (DataLoaders batch each level), and every field is right."""

from __future__ import annotations

import asyncio
import json
import uuid

import websockets

from preflog_contracts.errors import NotFound
from preflog_contracts.identity import Identity
from preflog_contracts.rpc import review
from preflog_messaging import CallContext

from .conftest import Server
from .flows import (
    add_rows,
    data_of,
    eventually,
    import_rows,
    issue_opened,
    new_dataset,
    new_member,
    new_project,
    shopping_row,
)

PAGE = """query($p: ID!) { project(id: $p) { name tasks(first: 100) {
  pageInfo { hasNextPage }
  edges { node {
    id status project { id name }
    dataRow { id globalKey dataset { id name }
      messages { id role content(format: HTML) }
      prompts { id responses { id title modelConfigName content } } }
    labels { id status author { id email } crowns { promptId responseId }
      consensusScore benchmarkScore reviews { decision } task { id } }
    issues { id }
    leasedBy { id }
  } } } } }"""

CLAIM = """mutation($p: ID!) { claimNextTask(projectId: $p) {
  id dataRow { id globalKey prompts { id responses { id } } } } }"""
CROWN = """mutation($t: ID!, $r: ID!) { crownResponse(taskId: $t, responseId: $r) { id } }"""
SUBMIT = """mutation($t: ID!) { submitLabel(taskId: $t) { status } }"""


async def test_a_page_of_100_tasks_costs_few_service_calls(system: Server) -> None:
    dataset_id = await new_dataset(system)
    tag = uuid.uuid4().hex[:8]
    rows = [shopping_row(f"loader-{tag}-{i}") for i in range(100)]
    imported = await import_rows(system, dataset_id, rows)
    assert imported["accepted"] == 100
    project_id = await new_project(system)
    task_ids = await add_rows(system, project_id, imported["dataRowIds"])
    assert len(task_ids) == 100
    annotator_id, token = await new_member(system, project_id, "ANNOTATOR")

    # The annotator crowns the second response and submits, task after task; remember what
    # the page must show.
    expected: dict[str, tuple[str, str, str]] = {}  # task -> (data row, global key, crowned)
    for _ in range(100):
        claimed = data_of(await system.gql(CLAIM, {"p": project_id}, token=token))
        task = claimed["claimNextTask"]
        response_id = task["dataRow"]["prompts"][0]["responses"][1]["id"]
        crowned = await system.gql(CROWN, {"t": task["id"], "r": response_id}, token=token)
        data_of(crowned)
        submitted = data_of(await system.gql(SUBMIT, {"t": task["id"]}, token=token))
        assert submitted["submitLabel"]["status"] == "SUBMITTED"
        expected[task["id"]] = (task["dataRow"]["id"], task["dataRow"]["globalKey"], response_id)
    assert set(expected) == set(task_ids)

    last = list(expected)[-1]

    async def labelled() -> str | None:
        # Labeling's label read model folds the log in commit order: once the last submit
        # shows, every earlier one does.
        query = "query($t: ID!) { task(id: $t) { labels { id status } } }"
        labels = data_of(await system.gql(query, {"t": last}))["task"]["labels"]
        return str(labels[0]["id"]) if labels and labels[0]["status"] == "SUBMITTED" else None

    last_label = await eventually(labelled, "labeling's label read model to catch up")
    # Review learns labels from the same log, in order, a moment later; until it knows one,
    # asking about the page's labels falls back to a call per label
    # (loaders.unknown_to_review_as_empty), which is what this test counts.
    who = data_of(await system.gql("{ viewer { id } organization { id } }"))
    admin = CallContext(
        identity=Identity(
            user_id=who["viewer"]["id"], org_id=who["organization"]["id"], org_role="ADMIN"
        )
    )

    async def review_knows() -> bool | None:
        try:
            await system.runtime.rpc.call(
                "review",
                "label_scores",
                review.LabelScoresRequest(label_ids=[last_label]),
                ctx=admin,
            )
        except NotFound:
            return None
        return True

    await eventually(review_knows, "review to learn the labels")
    before = system.runtime.rpc.calls
    page = data_of(await system.gql(PAGE, {"p": project_id}))
    calls = system.runtime.rpc.calls - before

    edges = page["project"]["tasks"]["edges"]
    assert len(edges) == 100 and page["project"]["tasks"]["pageInfo"]["hasNextPage"] is False
    email = None
    for edge in edges:
        node = edge["node"]
        row_id, global_key, crowned = expected[node["id"]]
        assert node["project"] == {"id": project_id, "name": page["project"]["name"]}
        row = node["dataRow"]
        assert (row["id"], row["globalKey"]) == (row_id, global_key)
        assert row["dataset"]["id"] == dataset_id
        assert [m["id"] for m in row["messages"]][:2] == ["message-0", "message-1"]
        assert len(row["prompts"][0]["responses"]) == 2
        assert node["status"] == "IN_REVIEW"
        [label] = node["labels"]
        assert label["status"] == "SUBMITTED"
        assert label["author"]["id"] == annotator_id
        email = email or label["author"]["email"]
        assert label["author"]["email"] == email
        assert label["crowns"] == [{"promptId": row["prompts"][0]["id"], "responseId": crowned}]
        assert label["task"] == {"id": node["id"]}
        assert label["reviews"] == [] and node["issues"] == []
        assert node["leasedBy"] is None
    # get_project, list_tasks, get_datasets, label_scores, get_reviews, list_issues (and a
    # few more at most): not one call per task.
    print("service calls for the page:", calls)
    assert calls <= 10, calls

    # Each task's history on the page (read for the whole page at once) is the task's own,
    # as asking for that task alone gives it, for the admin and for the annotator.
    histories = """query($p: ID!) { project(id: $p) { tasks(first: 100) {
      edges { node { id history { id taskId type actor } } } } } }"""
    single = "query($t: ID!) { task(id: $t) { history { id taskId type actor } } }"
    for who in (None, token):
        nodes = [
            e["node"]
            for e in data_of(await system.gql(histories, {"p": project_id}, token=who))["project"][
                "tasks"
            ]["edges"]
        ]
        assert len(nodes) == 100
        for node in nodes:
            types = [h["type"] for h in node["history"]]
            assert {"TaskLeased", "ResponseCrowned", "LabelSubmitted"} <= set(types), types
            assert {h["taskId"] for h in node["history"]} == {node["id"]}
        for node in nodes[:3]:
            # Read later, so it may hold more (review's events still landing), never less.
            alone = data_of(await system.gql(single, {"t": node["id"]}, token=who))
            assert alone["task"]["history"][: len(node["history"])] == node["history"]


async def test_computed_fields_cost_one_call_per_project_and_count_against_the_budget(
    system: Server,
) -> None:
    """Aliases of one project's leaderboard or agreement are one computation each; a query
    asking for a thousand of them is refused by the complexity budget before any call."""
    project = await new_project(system)
    await eventually(lambda: _known_to_review(system, project), "review to learn of the project")
    aliases = " ".join(f"l{i}: leaderboard(projectId: $p) {{ comparisons }}" for i in range(5))
    aliases += " ".join(f" a{i}: agreement(projectId: $p) {{ consensusScore }}" for i in range(3))
    calls = system.runtime.rpc.calls
    body = data_of(await system.gql(f"query($p: ID!) {{ {aliases} }}", {"p": project}))
    assert system.runtime.rpc.calls - calls == 2
    assert len({str(v) for k, v in body.items() if k.startswith("l")}) == 1
    many = " ".join(f"l{i}: leaderboard(projectId: $p) {{ comparisons }}" for i in range(60))
    refused = await system.gql(f"query($p: ID!) {{ {many} }}", {"p": project})
    assert refused["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "complex" in refused["errors"][0]["message"]
    assert system.runtime.rpc.calls - calls == 2


async def _known_to_review(system: Server, project: str) -> bool | None:
    body = await system.gql(
        "query($p: ID!) { leaderboard(projectId: $p) { comparisons } }", {"p": project}
    )
    return True if not body.get("errors") else None


async def test_each_websocket_operation_reads_afresh(system: Server) -> None:
    """Queries sent over one WebSocket connection: the second sees what changed since the
    first (the connection's loaders once answered it from their cache)."""
    dataset = await new_dataset(system)
    imported = await import_rows(system, dataset, [shopping_row(f"ws-{uuid.uuid4().hex}")])
    project = await new_project(system)
    (task,) = await add_rows(system, project, imported["dataRowIds"])
    query = "query($t: ID!) { task(id: $t) { issues { id } } }"
    await eventually(lambda: _issues_readable(system, task), "review to learn the project")
    ws = await websockets.connect(system.ws_url, subprotocols=["graphql-transport-ws"])
    try:
        init = {"authorization": f"Bearer {system.admin_token}"}
        await ws.send(json.dumps({"type": "connection_init", "payload": init}))
        await ws.recv()

        async def issues(op: str) -> list[dict[str, str]]:
            payload = {"query": query, "variables": {"t": task}}
            await ws.send(json.dumps({"id": op, "type": "subscribe", "payload": payload}))
            answer = json.loads(await asyncio.wait_for(ws.recv(), 10))
            await asyncio.wait_for(ws.recv(), 10)  # complete
            found: list[dict[str, str]] = answer["payload"]["data"]["task"]["issues"]
            return found

        assert await issues("1") == []
        issue = await eventually(lambda: issue_opened(system, task), "review to learn the task")
        await eventually(lambda: _issue_listed(system, task), "the issue in the task's read model")
        assert await issues("2") == [{"id": issue}]
    finally:
        await ws.close()


async def _issues_readable(system: Server, task: str) -> bool | None:
    body = await system.gql("query($t: ID!) { task(id: $t) { issues { id } } }", {"t": task})
    return None if body.get("errors") else True


async def _issue_listed(system: Server, task: str) -> bool | None:
    body = await system.gql("query($t: ID!) { task(id: $t) { issues { id } } }", {"t": task})
    return True if data_of(body)["task"]["issues"] else None
