"""The whole system as a frontend sees it: ``preflog up`` in a subprocess, driven only over
HTTP and WebSocket.

One story, told in order by the tests below (each builds on the ones before it): import the
fixtures, make a team and a consensus project with Dataloop's feedback questions, three
annotators label every task, a reviewer rejects one label and approves the rework, an issue
is opened and resolved, a subscriber watches it all live, the audit log and ``taskAsOf`` show
the past, the leaderboard ranks the models, the ``dpo`` export holds the edited, crowned pairs,
and another organization sees none of it.
"""

from __future__ import annotations

import asyncio
import functools
import json
import sys
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, TypeVar

import pytest
import pytest_asyncio

from .running_system import FIXTURES, Client, Subscription, System, fixture_json

pytestmark = pytest.mark.timeout(240)

T = TypeVar("T")

GPT4 = "GPT-4 with temperature 0.2"
GPT35 = "GPT-3.5 with temperature 0"
ALPHA, BETA, GAMMA = "model-alpha", "model-beta", "model-gamma"
# Each annotator's taste: models in order of preference (the first present is crowned).
TASTE = {
    "ann1": [GPT4, ALPHA, BETA, GAMMA, GPT35],
    "ann2": [GPT35, ALPHA, BETA, GAMMA, GPT4],  # disagrees on the shopping row: rejected
    "ann3": [GPT4, ALPHA, BETA, GAMMA, GPT35],
}
EDITED = "Get the **Dyson V15**: cordless, made for hardwood floors, under $600."
REJECT_REASON = "Response A lists two products without comparing them; crown Response B."

PROJECT_EVENTS = """subscription($p: ID!, $after: Int) {
  projectEvents(projectId: $p, after: $after) {
    id position type streamName projectId taskId labelId actor data } }"""

AUDIT = """query($f: AuditFilter!, $first: Int!, $after: String) {
  auditLog(filter: $f, first: $first, after: $after) {
    edges { cursor node { id position type streamName occurredAt actor actorRole projectId
                          taskId labelId data correlationId userAgent } }
    pageInfo { hasNextPage endCursor } } }"""

RESPONSE = "id title modelConfigName content edited original"
TASK = f"""id status requiredLabels submittedLabels leasedBy {{ id }}
  dataRow {{ id globalKey messages {{ id role }} prompts {{ id responses {{ {RESPONSE} }} }} }}
  myLabel {{ id status }}"""
LABEL = """id status canUndo canRedo
  rankings { promptId ranking { responseId rank } } crowns { promptId responseId }
  answers { questionId target { messageId responseId } value }
  comments { id body target { responseId } author { id } }
  edits { responseId kind content }
  reviews { decision comment reviewer { id } }"""


async def eventually(check: Callable[[], Awaitable[T | None]], what: str, seconds: float = 15) -> T:
    """``check()`` once it is not None: services learn each other's events asynchronously."""
    deadline = time.monotonic() + seconds
    while True:
        found = await check()
        if found is not None:
            return found
        if time.monotonic() > deadline:
            raise AssertionError(f"timed out waiting for {what}")
        await asyncio.sleep(0.05)


@dataclass
class Story:
    """What earlier steps made, for later steps."""

    dataset_id: str = ""
    shopping_row_id: str = ""
    dataloop_row_id: str = ""
    project_id: str = ""
    people: dict[str, Client] = field(default_factory=dict)
    stranger: Client | None = None
    stranger_sub: Subscription | None = None
    sub: Subscription | None = None
    sub_after: int = 0
    shopping_task: str = ""
    dataloop_task: str = ""
    labels: dict[tuple[str, str], str] = field(default_factory=dict)  # (who, task) -> label
    edit_event: dict[str, Any] = field(default_factory=dict)
    issue_id: str = ""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def story(system: System) -> Any:
    s = Story()
    yield s
    for sub in (s.sub, s.stranger_sub):
        if sub is not None:
            await sub.close()


def need(value: T | None, what: str) -> T:
    if not value:
        pytest.skip(f"an earlier step did not produce {what}")
    assert value is not None
    return value


async def audit_events(
    client: Client, flt: dict[str, Any], page: int = 500
) -> list[dict[str, Any]]:
    """Every event of the audit log matching ``flt``, following the cursor."""
    out: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        data = await client.gql(AUDIT, {"f": flt, "first": page, "after": after})
        conn = data["auditLog"]
        out.extend(e["node"] for e in conn["edges"])
        if not conn["pageInfo"]["hasNextPage"]:
            return out
        after = conn["pageInfo"]["endCursor"]


# --- 1. the system answers ------------------------------------------------------------------


async def test_system_is_up_and_refuses_strangers(system: System) -> None:
    assert (await system.http.get("/healthz")).json() == {"status": "ok"}
    ready = (await system.http.get("/readyz")).json()
    assert ready["ready"] is True
    assert {"postgres", "nats", "gateway", "service:labeling", "service:review"} <= set(
        ready["checks"]
    )
    metrics = await system.http.get("/metrics")
    assert metrics.status_code == 200 and "# TYPE" in metrics.text
    # the gateway process watches its event loop (timers it ran late, how late): four a
    # second, so within a second of its start there is one
    for _ in range(40):
        lag_count = next(
            float(line.split()[-1])
            for line in metrics.text.splitlines()
            if line.startswith("preflog_event_loop_lag_seconds_count")
        )
        if lag_count > 0:
            break
        await asyncio.sleep(0.05)
        metrics = await system.http.get("/metrics")
    assert lag_count > 0
    viewer = await system.admin.gql("{ viewer { email orgRole isOperator } organization { name } }")
    assert viewer["viewer"] == {
        "email": "admin@preflog.local",
        "orgRole": "ADMIN",
        "isOperator": True,
    }
    # Limits hold on every request, including when the document's validation is cached.
    deep = "{ viewer { apiTokens { id } } }"
    too_deep = '{ task(id: "t") { labels { task { labels { task { labels { task { labels'
    too_deep += " { task { labels { task { labels { id } } } } } } } } } } } } }"
    for _ in range(2):
        assert await system.admin.error_code(too_deep) == "INVALID_INPUT"
        assert "errors" not in await system.admin.raw(deep)
        assert await system.admin.error_code("{ viewer { ") == "INVALID_INPUT"
    for bad in ("", "Bearer pfl_not_a_token"):
        r = await system.http.post(
            "/graphql", json={"query": "{ viewer { id } }"}, headers={"authorization": bad}
        )
        body = r.json()
        assert body["errors"][0]["extensions"]["code"] == "UNAUTHENTICATED", body


# --- 2. import the fixtures -----------------------------------------------------------------


async def test_import_fixtures_over_rest_and_graphql(system: System, story: Story) -> None:
    admin = system.admin
    made = await admin.gql(
        'mutation { createDataset(name: "fixtures", description: "shared fixtures") { id name } }'
    )
    story.dataset_id = made["createDataset"]["id"]
    auth = {"authorization": f"Bearer {system.admin_token}"}

    # REST, a JSON array: the Labelbox import file with inline rows (three of them).
    import_file = fixture_json("labelbox/import_file_inline.json")
    assert len(import_file) == 3
    r = await system.http.post(
        f"/v1/datasets/{story.dataset_id}/imports",
        content=json.dumps(import_file),
        headers={**auth, "content-type": "application/json"},
    )
    assert r.status_code == 202, r.text
    report = (await system.http.get(f"/v1/imports/{r.json()['importId']}", headers=auth)).json()
    assert report["status"] == "COMPLETED"
    assert report["counts"]["accepted"] == 3 and report["counts"]["rejected"] == 0

    # REST, NDJSON: the v1 media rows, one import row per line, and one row that is refused.
    lines = [
        {"row_data": fixture_json(f"labelbox/v1_{kind}.json"), "global_key": f"{kind}-1"}
        for kind in ("image", "video", "audio")
    ]
    lines.append({"row_data": fixture_json("invalid/wrong_version.json"), "global_key": "bad-1"})
    r = await system.http.post(
        f"/v1/datasets/{story.dataset_id}/imports",
        content="\n".join(json.dumps(line) for line in lines) + "\n",
        headers={**auth, "content-type": "application/x-ndjson"},
    )
    assert r.status_code == 202, r.text
    report = (await system.http.get(f"/v1/imports/{r.json()['importId']}", headers=auth)).json()
    assert report["counts"]["accepted"] == 3 and report["counts"]["rejected"] == 1
    [error] = report["errors"]
    assert error["globalKey"] == "bad-1" and error["line"] == 4, error

    # GraphQL: the Dataloop prompt item with its annotations, a duplicate, a refused row.
    item = {
        **fixture_json("dataloop/prompt_item_two_prompts.json"),
        "annotations": fixture_json("dataloop/prompt_item_two_prompts.annotations.json"),
    }
    duplicate = {"row_data": fixture_json("labelbox/v1_shopping.json"), "global_key": "shopping-1"}
    result = (
        await admin.gql(
            """mutation($d: ID!, $rows: [JSON!]!) { importDataRows(datasetId: $d, rows: $rows) {
                 accepted rejected duplicates dataRowIds
                 errors { index globalKey code path } } }""",
            {
                "d": story.dataset_id,
                "rows": [item, duplicate, fixture_json("invalid/no_model_outputs.json")],
            },
        )
    )["importDataRows"]
    assert result["accepted"] == 1 and result["duplicates"] == 1, result
    assert result["rejected"] == 1, result
    assert [(e["index"], e["code"], e["path"]) for e in result["errors"]] == [
        (1, "DUPLICATE_GLOBAL_KEY", "global_key"),
        (2, "NO_MODEL_OUTPUTS", "modelOutputs"),
    ]
    story.dataloop_row_id = result["dataRowIds"][0]

    rows = await admin.gql(
        """query($id: ID) { shopping: dataRow(globalKey: "shopping-1") { id messages { id role }
              prompts { id responses { id modelConfigName } } }
            dataloop: dataRow(id: $id) { messages { id content(format: TEXT) }
              prompts { id responses { modelConfigName content } } }
            datasets { id dataRowCount } }""",
        {"id": story.dataloop_row_id},
    )
    story.shopping_row_id = rows["shopping"]["id"]
    assert [m["id"] for m in rows["shopping"]["messages"]] == [f"message-{i}" for i in range(4)]
    [shop_prompt] = rows["shopping"]["prompts"]
    assert {r["modelConfigName"] for r in shop_prompt["responses"]} == {GPT4, GPT35}
    assert [p["id"] for p in rows["dataloop"]["prompts"]] == ["prompt1", "prompt2"]
    assert [len(p["responses"]) for p in rows["dataloop"]["prompts"]] == [2, 3]
    assert rows["dataloop"]["prompts"][0]["responses"][0] == {
        "modelConfigName": ALPHA,
        "content": "A red fox.",
    }
    assert rows["datasets"] == [{"id": story.dataset_id, "dataRowCount": 7}]


# --- 3. the team and the project ------------------------------------------------------------


async def test_team_project_and_live_subscriber(system: System, story: Story) -> None:
    admin = system.admin
    for who in ("ann1", "ann2", "ann3", "rev", "mgr"):
        user = (
            await admin.gql(
                "mutation($e: String!, $n: String!) {"
                " createUser(input: {email: $e, name: $n}) { id orgRole } }",
                {"e": f"{who}-{uuid.uuid4().hex[:6]}@e2e.example", "n": who},
            )
        )["createUser"]
        assert user["orgRole"] == "MEMBER"
        secret = (
            await admin.gql(
                'mutation($u: ID!) { createApiToken(userId: $u, name: "e2e") { id token } }',
                {"u": user["id"]},
            )
        )["createApiToken"]
        story.people[who] = system.client(secret["token"], user["id"], who)

    created = (
        await admin.gql(
            """mutation($i: CreateProjectInput!) { createProject(input: $i) {
                 id qualityMode consensusLabelCount
                 settings { allowResponseEdit reviewRequired rankMode }
                 ontology { format questions { id kind scope required min max
                                               options { value } } } } }""",
            {
                "i": {
                    "name": "Fox and vacuum preferences",
                    "qualityMode": "CONSENSUS",
                    "consensusLabelCount": 3,
                    "ontology": {
                        "format": "DATALOOP",
                        "source": fixture_json("dataloop/feedback_questions.json"),
                    },
                    "settings": {"allowResponseEdit": True, "reviewRequired": True},
                }
            },
        )
    )["createProject"]
    story.project_id = created["id"]
    assert created["qualityMode"] == "CONSENSUS" and created["consensusLabelCount"] == 3
    assert created["settings"] == {
        "allowResponseEdit": True,
        "reviewRequired": True,
        "rankMode": "FULL_ORDER",
    }
    questions = {q["id"]: q for q in created["ontology"]["questions"]}
    assert created["ontology"]["format"] == "DATALOOP"
    assert {k: q["kind"] for k, q in questions.items()} == {
        "helpfulness": "SCALE",
        "issues": "CHECKLIST",
        "tone": "RADIO",
        "safe": "YES_NO",
        "notes": "TEXT",
    }
    assert questions["helpfulness"]["scope"] == "RESPONSE"
    assert (questions["helpfulness"]["min"], questions["helpfulness"]["max"]) == (1, 5)
    assert [o["value"] for o in questions["tone"]["options"]] == ["formal", "neutral", "casual"]
    assert questions["safe"]["required"] and not questions["notes"]["required"]

    roles = {"ann1": "ANNOTATOR", "ann2": "ANNOTATOR", "ann3": "ANNOTATOR"}
    roles |= {"rev": "REVIEWER", "mgr": "MANAGER"}
    for who, role in roles.items():
        member = await admin.gql(
            "mutation($p: ID!, $u: ID!, $r: ProjectRole!) {"
            " addProjectMember(projectId: $p, userId: $u, role: $r) { role user { id } } }",
            {"p": story.project_id, "u": story.people[who].user_id, "r": role},
        )
        assert member["addProjectMember"] == {
            "role": role,
            "user": {"id": story.people[who].user_id},
        }

    # Another organization, whose admin will try to watch this project.
    other = (
        await admin.gql(
            """mutation($e: String!) { createOrganization(name: "Elsewhere", adminEmail: $e,
                 adminName: "Else") { organization { id } token { token } } }""",
            {"e": f"else-{uuid.uuid4().hex[:6]}@elsewhere.example"},
        )
    )["createOrganization"]
    story.stranger = system.client(other["token"]["token"], name="stranger")

    # The manager's live view, connected before any labeling action. It resumes after the
    # last event the audit log shows now, so nothing between is lost however long the
    # subscription takes to register.
    mgr = story.people["mgr"]

    async def visible_to_manager() -> list[dict[str, Any]] | None:
        # The gateway learns the manager's membership from the log a moment later.
        events = await audit_events(mgr, {"projectId": story.project_id})
        return events if sum(e["type"] == "MemberAdded" for e in events) == 6 else None

    so_far = await eventually(visible_to_manager, "the manager to see the project's log")
    assert [e["type"] for e in so_far][:1] == ["ProjectCreated"]
    assert sum(e["type"] == "MemberAdded" for e in so_far) == 6  # the creator is the owner
    members = (
        await mgr.gql(
            "query($p: ID!) { project(id: $p) { myRole members { role user { id } } } }",
            {"p": story.project_id},
        )
    )["project"]
    assert members["myRole"] == "MANAGER"
    admin_id = (await admin.gql("{ viewer { id } }"))["viewer"]["id"]
    assert {(m["user"]["id"], m["role"]) for m in members["members"]} == {
        (admin_id, "OWNER"),
        *((story.people[who].user_id, role) for who, role in roles.items()),
    }
    story.sub_after = so_far[-1]["position"]
    story.sub = await Subscription.open(
        system.ws_url,
        mgr.token,
        PROJECT_EVENTS,
        {"p": story.project_id, "after": story.sub_after},
        "projectEvents",
    )
    story.stranger_sub = await Subscription.open(
        system.ws_url,
        story.stranger.token,
        PROJECT_EVENTS,
        {"p": story.project_id},
        "projectEvents",
    )

    # Rows go in: the annotator may not add them, the manager may.
    add = """mutation($p: ID!, $ids: [ID!], $keys: [String!], $prio: Int) {
      addDataRowsToProject(projectId: $p, dataRowIds: $ids, globalKeys: $keys, priority: $prio)
      { size priority taskIds } }"""
    refused = await story.people["ann1"].error_code(
        add, {"p": story.project_id, "keys": ["shopping-1"], "prio": 10}
    )
    assert refused == "FORBIDDEN"
    shop = (await mgr.gql(add, {"p": story.project_id, "keys": ["shopping-1"], "prio": 10}))[
        "addDataRowsToProject"
    ]
    dl = (await mgr.gql(add, {"p": story.project_id, "ids": [story.dataloop_row_id], "prio": 1}))[
        "addDataRowsToProject"
    ]
    assert (shop["size"], shop["priority"], dl["size"], dl["priority"]) == (1, 10, 1, 1)
    story.shopping_task, story.dataloop_task = shop["taskIds"][0], dl["taskIds"][0]


# --- 4. three annotators label both tasks ---------------------------------------------------


def ranked(prompt: dict[str, Any], taste: list[str]) -> list[dict[str, Any]]:
    """The prompt's responses, best first by ``taste``."""
    return sorted(prompt["responses"], key=lambda r: taste.index(r["modelConfigName"]))


async def label_task(story: Story, who: str, task: dict[str, Any]) -> None:
    """Rank and crown every prompt by the annotator's taste, answer the required questions on
    the crowned responses; ann1 also edits, answers every kind, comments, undoes and redoes."""
    client = story.people[who]
    tid = task["id"]
    for prompt in task["dataRow"]["prompts"]:
        order = ranked(prompt, TASTE[who])
        label = (
            await client.gql(
                f"""mutation($t: ID!, $p: ID, $r: [RankInput!]!) {{
                      rankResponses(taskId: $t, promptId: $p, ranking: $r) {{ {LABEL} }} }}""",
                {
                    "t": tid,
                    "p": prompt["id"],
                    "r": [{"responseId": r["id"], "rank": i + 1} for i, r in enumerate(order)],
                },
            )
        )["rankResponses"]
        assert label["status"] == "DRAFT" and label["canUndo"]
        mine = next(r for r in label["rankings"] if r["promptId"] == prompt["id"])
        assert [e["responseId"] for e in mine["ranking"]] == [r["id"] for r in order]
        label = (
            await client.gql(
                f"""mutation($t: ID!, $p: ID, $r: ID!) {{
                      crownResponse(taskId: $t, promptId: $p, responseId: $r) {{ {LABEL} }} }}""",
                {"t": tid, "p": prompt["id"], "r": order[0]["id"]},
            )
        )["crownResponse"]
        assert {"promptId": prompt["id"], "responseId": order[0]["id"]} in label["crowns"]
        await answer(client, tid, "helpfulness", 5, {"responseId": order[0]["id"]})
        story.labels[(who, tid)] = label["id"]
    await answer(client, tid, "safe", True)


async def answer(
    client: Client, task_id: str, question: str, value: Any, target: dict[str, Any] | None = None
) -> dict[str, Any]:
    label: dict[str, Any] = (
        await client.gql(
            f"""mutation($t: ID!, $q: ID!, $a: JSON!, $target: TargetInput) {{
                  answerQuestion(taskId: $t, questionId: $q, answer: $a, target: $target)
                  {{ {LABEL} }} }}""",
            {"t": task_id, "q": question, "a": value, "target": target},
        )
    )["answerQuestion"]
    return label


async def ann1_extras(system: System, story: Story, task: dict[str, Any]) -> None:
    """Edit the crowned response, answer every kind of question, comment, undo, redo."""
    client, tid = story.people["ann1"], task["id"]
    [prompt] = task["dataRow"]["prompts"]
    best = next(r for r in prompt["responses"] if r["modelConfigName"] == GPT4)
    other = next(r for r in prompt["responses"] if r["modelConfigName"] == GPT35)
    label = (
        await client.gql(
            f"""mutation($t: ID!, $r: ID!, $c: String!) {{
                  editResponse(taskId: $t, responseId: $r, content: $c) {{ {LABEL} }} }}""",
            {"t": tid, "r": best["id"], "c": EDITED},
        )
    )["editResponse"]
    assert label["edits"] == [{"responseId": best["id"], "kind": "EDITED", "content": EDITED}]
    # The subscriber sees the edit live, before anything else happens.
    sub = need(story.sub, "a subscription")
    seen = await sub.drain_until(
        lambda evs: any(e["type"] == "ResponseEdited" for e in evs), timeout=5
    )
    assert seen[-1]["type"] == "ResponseEdited" and seen[-1]["actor"] == client.user_id
    assert seen[-1]["data"]["response_id"] == best["id"]

    # The annotator's own view shows the edited response, with its original kept.
    async def shown_edited() -> dict[str, Any] | None:
        view = (await client.gql(f"query($t: ID!) {{ task(id: $t) {{ {TASK} }} }}", {"t": tid}))[
            "task"
        ]
        responses = view["dataRow"]["prompts"][0]["responses"]
        shown: dict[str, Any] = next(r for r in responses if r["id"] == best["id"])
        return shown if shown["edited"] else None

    shown = await eventually(shown_edited, "the task view to show the edited response")
    assert shown["content"] == EDITED
    assert shown["original"] == best["content"] != EDITED

    await answer(client, tid, "issues", ["off topic", "unsafe"])
    await answer(client, tid, "tone", "neutral")
    label = await answer(client, tid, "notes", "Response A's links look like affiliate links.")
    assert {a["questionId"]: a["value"] for a in label["answers"]} == {
        "helpfulness": 5,
        "safe": True,
        "issues": ["off topic", "unsafe"],
        "tone": "neutral",
        "notes": "Response A's links look like affiliate links.",
    }
    refused = await client.raw(
        """mutation($t: ID!) { answerQuestion(taskId: $t, questionId: "tone", answer: "angry")
           { id } }""",
        {"t": tid},
    )
    assert refused["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "answer" in refused["errors"][0]["extensions"]["fields"]

    comment = (
        await client.gql(
            """mutation($t: ID!, $r: ID) { addComment(taskId: $t, body: "Too many links",
                 target: {responseId: $r}) { id body target { responseId } author { id } } }""",
            {"t": tid, "r": other["id"]},
        )
    )["addComment"]
    assert comment["target"] == {"responseId": other["id"]}
    assert comment["author"] == {"id": client.user_id}
    undone = (
        await client.gql(f"mutation($t: ID!) {{ undo(taskId: $t) {{ {LABEL} }} }}", {"t": tid})
    )["undo"]
    assert undone["comments"] == [] and undone["canRedo"]
    redone = (
        await client.gql(f"mutation($t: ID!) {{ redo(taskId: $t) {{ {LABEL} }} }}", {"t": tid})
    )["redo"]
    assert [c["id"] for c in redone["comments"]] == [comment["id"]] and not redone["canRedo"]
    # Undo twice takes back the comment and the notes answer; redo once brings back the notes.
    await client.gql("mutation($t: ID!) { undo(taskId: $t) { id } }", {"t": tid})
    twice = (
        await client.gql(f"mutation($t: ID!) {{ undo(taskId: $t) {{ {LABEL} }} }}", {"t": tid})
    )["undo"]
    assert "notes" not in {a["questionId"] for a in twice["answers"]} and twice["comments"] == []
    again = (
        await client.gql(f"mutation($t: ID!) {{ redo(taskId: $t) {{ {LABEL} }} }}", {"t": tid})
    )["redo"]
    assert "notes" in {a["questionId"] for a in again["answers"]} and again["comments"] == []
    assert again["canRedo"]
    # ... and a new comment empties the redo stack.
    keyed = """mutation($t: ID!) { addComment(taskId: $t, body: "Prefer B", idempotencyKey: "c-1")
               { id body } }"""
    first = (await client.gql(keyed, {"t": tid}))["addComment"]
    repeat = (await client.gql(keyed, {"t": tid}))["addComment"]
    assert first == repeat  # the same key answers the first result and appends nothing

    async def one_comment() -> dict[str, Any] | None:
        label: dict[str, Any] = (
            await client.gql(
                f"query($t: ID!) {{ task(id: $t) {{ myLabel {{ {LABEL} }} }} }}", {"t": tid}
            )
        )["task"]["myLabel"]
        return label if [c["body"] for c in label["comments"]] == ["Prefer B"] else None

    final = await eventually(one_comment, "the task view to show the one new comment")
    assert not final["canRedo"]


async def submit(client: Client, task_id: str) -> dict[str, Any]:
    label: dict[str, Any] = (
        await client.gql(
            "mutation($t: ID!) { submitLabel(taskId: $t) { id status } }", {"t": task_id}
        )
    )["submitLabel"]
    return label


async def claim(client: Client, project_id: str) -> dict[str, Any] | None:
    task: dict[str, Any] | None = (
        await client.gql(
            f"mutation($p: ID!) {{ claimNextTask(projectId: $p) {{ {TASK} }} }}",
            {"p": project_id},
        )
    )["claimNextTask"]
    return task


async def test_three_annotators_label_every_task(system: System, story: Story) -> None:
    pid = need(story.project_id, "a project")
    # Consensus: all three claim the same (higher-priority) task at once.
    # The queue learns the new batch's tasks from the log a moment after the batch answers.
    first = await eventually(
        functools.partial(claim, story.people["ann1"], pid), "the batch's tasks in the queue"
    )
    claimed = {"ann1": first} | {w: await claim(story.people[w], pid) for w in ("ann2", "ann3")}
    for who, task in claimed.items():
        assert task is not None and task["id"] == story.shopping_task, (who, task)
        assert task["leasedBy"] == {"id": story.people[who].user_id}
        assert task["requiredLabels"] == 3 and task["dataRow"]["globalKey"] == "shopping-1"

    for who in ("ann1", "ann2", "ann3"):
        task = claimed[who]
        assert task is not None
        await label_task(story, who, task)
        if who == "ann1":
            await ann1_extras(system, story, task)
        if who == "ann3":
            # Submitting before the required answers is refused, naming each missing one.
            await story.people[who].gql(
                "mutation($t: ID!) { undo(taskId: $t) { id } }", {"t": task["id"]}
            )
            code = await story.people[who].raw(
                "mutation($t: ID!) { submitLabel(taskId: $t) { id } }", {"t": task["id"]}
            )
            err = code["errors"][0]["extensions"]
            assert err["code"] == "INVALID_INPUT" and "answers.safe" in err["fields"], err
            await story.people[who].gql(
                "mutation($t: ID!) { redo(taskId: $t) { id } }", {"t": task["id"]}
            )
        assert (await submit(story.people[who], task["id"]))["status"] == "SUBMITTED"

    # Then each claims the next task (the Dataloop item), labels it and submits.
    for who in ("ann1", "ann2", "ann3"):
        task = await claim(story.people[who], pid)
        assert task is not None and task["id"] == story.dataloop_task, (who, task)
        await label_task(story, who, task)
        assert (await submit(story.people[who], task["id"]))["status"] == "SUBMITTED"
        assert await claim(story.people[who], pid) is None  # nothing left for this annotator

    rev = story.people["rev"]

    async def both_in_review() -> list[dict[str, Any]] | None:
        tasks = [
            (
                await rev.gql(
                    "query($t: ID!) { task(id: $t) { status submittedLabels labels { status } } }",
                    {"t": t},
                )
            )["task"]
            for t in (story.shopping_task, story.dataloop_task)
        ]
        done = all(
            t["status"] == "IN_REVIEW" and [lb["status"] for lb in t["labels"]] == ["SUBMITTED"] * 3
            for t in tasks
        )
        return tasks if done else None

    tasks = await eventually(both_in_review, "both tasks to reach review with 3 labels")
    assert [t["submittedLabels"] for t in tasks] == [3, 3]


# --- 5. review: reject, rework, approve -----------------------------------------------------


async def test_reviewer_rejects_annotator_fixes_reviewer_approves(
    system: System, story: Story
) -> None:
    rev, ann2 = story.people["rev"], story.people["ann2"]
    tid = need(story.shopping_task, "a task")
    rejected_label = need(story.labels.get(("ann2", tid)), "ann2's label")

    refused = await story.people["ann1"].error_code(
        "mutation($l: ID!) { approveLabel(labelId: $l) { id } }", {"l": rejected_label}
    )
    assert refused == "FORBIDDEN"

    rejected = (
        await rev.gql(
            "mutation($l: ID!, $r: String!) { rejectLabel(labelId: $l, reason: $r) { id status } }",
            {"l": rejected_label, "r": REJECT_REASON},
        )
    )["rejectLabel"]
    assert rejected == {"id": rejected_label, "status": "REJECTED"}

    # The annotator sees the rejection and its reason on the task.
    async def sees_reason() -> dict[str, Any] | None:
        task = (
            await ann2.gql(
                f"query($t: ID!) {{ task(id: $t) {{ status myLabel {{ {LABEL} }} }} }}", {"t": tid}
            )
        )["task"]
        label = task["myLabel"]
        ok = task["status"] == "IN_REWORK" and label["status"] == "REJECTED" and label["reviews"]
        return task if ok else None

    task = await eventually(sees_reason, "ann2 to see the rejection")
    assert task["myLabel"]["reviews"][-1] == {
        "decision": "REJECTED",
        "comment": REJECT_REASON,
        "reviewer": {"id": rev.user_id},
    }
    progress = (
        await rev.gql(
            "query($p: ID!) { project(id: $p) { progress { toLabel inReview inRework done } } }",
            {"p": story.project_id},
        )
    )["project"]["progress"]
    assert progress == {"toLabel": 0, "inReview": 1, "inRework": 1, "done": 0}

    # The fix: crown and rank as asked, rate the newly crowned response, resubmit.
    view = (await ann2.gql(f"query($t: ID!) {{ task(id: $t) {{ {TASK} }} }}", {"t": tid}))["task"]
    [prompt] = view["dataRow"]["prompts"]
    order = ranked(prompt, TASTE["ann1"])
    fixed = (
        await ann2.gql(
            f"""mutation($t: ID!, $r: ID!) {{ crownResponse(taskId: $t, responseId: $r)
                  {{ {LABEL} }} }}""",
            {"t": tid, "r": order[0]["id"]},
        )
    )["crownResponse"]
    assert fixed["crowns"] == [{"promptId": prompt["id"], "responseId": order[0]["id"]}]
    await ann2.gql(
        """mutation($t: ID!, $r: [RankInput!]!) { rankResponses(taskId: $t, ranking: $r)
           { id } }""",
        {"t": tid, "r": [{"responseId": r["id"], "rank": i + 1} for i, r in enumerate(order)]},
    )
    await answer(ann2, tid, "helpfulness", 4, {"responseId": order[0]["id"]})
    assert (await submit(ann2, tid))["status"] == "SUBMITTED"

    async def back_in_review() -> str | None:
        status = (await rev.gql("query($t: ID!) { task(id: $t) { status } }", {"t": tid}))["task"][
            "status"
        ]
        return status if status == "IN_REVIEW" else None

    await eventually(back_in_review, "the reworked task back in review")

    async def approve(label_id: str) -> dict[str, Any] | None:
        body = await rev.raw(
            """mutation($l: ID!) { approveLabel(labelId: $l, comment: "Thanks")
               { id status } }""",
            {"l": label_id},
        )
        if body.get("errors"):
            # Review learns of the resubmission from labeling's events a moment after the
            # task reads IN_REVIEW; until then it refuses with INVALID_INPUT.
            assert body["errors"][0]["extensions"]["code"] == "INVALID_INPUT", body
            return None
        approved: dict[str, Any] = body["data"]["approveLabel"]
        return approved

    for task_id in (story.shopping_task, story.dataloop_task):
        for who in ("ann1", "ann2", "ann3"):
            label_id = story.labels[(who, task_id)]
            approved = await eventually(
                functools.partial(approve, label_id), "review to accept the approval"
            )
            assert approved == {"id": label_id, "status": "APPROVED"}

    async def all_done() -> dict[str, Any] | None:
        data = await rev.gql(
            """query($p: ID!, $t: ID!) {
                 project(id: $p) { progress { toLabel inReview inRework done skipped } }
                 task(id: $t) { status labels { status author { id } consensusScore
                                reviews { decision comment } } } }""",
            {"p": story.project_id, "t": story.shopping_task},
        )
        return data if data["project"]["progress"]["done"] == 2 else None

    data = await eventually(all_done, "both tasks DONE")
    assert data["task"]["status"] == "DONE"
    by_author = {lb["author"]["id"]: lb for lb in data["task"]["labels"]}
    assert {lb["status"] for lb in by_author.values()} == {"APPROVED"}
    assert [r["decision"] for r in by_author[ann2.user_id]["reviews"]] == ["REJECTED", "APPROVED"]
    assert by_author[ann2.user_id]["reviews"][0]["comment"] == REJECT_REASON
    # After the fix all three crowned and ranked alike: full consensus.
    assert all(lb["consensusScore"] is not None for lb in by_author.values())


# --- 6. an issue ----------------------------------------------------------------------------


async def test_issue_opened_and_resolved(system: System, story: Story) -> None:
    ann3, rev = story.people["ann3"], story.people["rev"]
    tid = need(story.shopping_task, "a task")
    opened = (
        await ann3.gql(
            """mutation($t: ID!) { openIssue(taskId: $t, target: {responseId: "response-a"},
                 body: "The Shark link 404s") { id status body target { responseId }
                 author { id } } }""",
            {"t": tid},
        )
    )["openIssue"]
    story.issue_id = opened["id"]
    assert opened["status"] == "OPEN" and opened["author"] == {"id": ann3.user_id}
    assert opened["target"] == {"responseId": "response-a"}
    code = await ann3.error_code(
        "mutation($i: ID!) { resolveIssue(issueId: $i) { id } }", {"i": opened["id"]}
    )
    assert code == "FORBIDDEN"
    commented = (
        await rev.gql(
            """mutation($i: ID!) { commentOnIssue(issueId: $i, body: "Confirmed, dead link")
               { status comments { body author { id } } } }""",
            {"i": opened["id"]},
        )
    )["commentOnIssue"]
    assert commented["comments"] == [
        {"body": "Confirmed, dead link", "author": {"id": rev.user_id}}
    ]
    resolved = (
        await rev.gql(
            """mutation($i: ID!) { resolveIssue(issueId: $i, resolution: "Reported upstream")
               { status resolution } }""",
            {"i": opened["id"]},
        )
    )["resolveIssue"]
    assert resolved == {"status": "RESOLVED", "resolution": "Reported upstream"}

    async def listed() -> list[dict[str, Any]] | None:
        issues = (
            await rev.gql(
                "query($t: ID!) { task(id: $t) { issues { id status resolution } } }", {"t": tid}
            )
        )["task"]["issues"]
        return issues if issues and issues[0]["status"] == "RESOLVED" else None

    assert await eventually(listed, "the resolved issue on the task") == [
        {"id": opened["id"], "status": "RESOLVED", "resolution": "Reported upstream"}
    ]


# --- 7. the subscriber saw it all, live, in order, once -------------------------------------


async def test_subscriber_saw_every_event_in_order_once(system: System, story: Story) -> None:
    sub = need(story.sub, "a subscription")
    mgr = story.people["mgr"]
    logged = [
        e
        for e in await audit_events(mgr, {"projectId": story.project_id}, page=37)
        if e["position"] > story.sub_after
    ]
    wanted = {e["id"] for e in logged}
    got = await sub.drain_until(lambda evs: wanted <= {e["id"] for e in evs}, timeout=10)
    ids = [e["id"] for e in got]
    assert len(ids) == len(set(ids))  # none twice
    # Delivery is in commit order; positions are handed out before commit, so two concurrent
    # transactions (an annotator's action, review's status change) may commit out of position
    # order. What must hold: the same events as the log, and each stream in its own order.
    assert set(ids[: len(logged)]) == wanted

    def per_stream(events: list[dict[str, Any]]) -> dict[str, set[int]]:
        out: dict[str, set[int]] = {}
        for e in events:
            out.setdefault(e["streamName"], set()).add(e["position"])
        return out

    # Per stream the same events. (Not compared in position order: two transactions that
    # append to one stream with ANY, e.g. review's workflow stream, may take positions in
    # one order and commit in the other; the subscription follows commit order.)
    assert per_stream(got[: len(logged)]) == per_stream(logged)
    label_streams = {e["streamName"] for e in got if e["streamName"].startswith("label-")}
    for stream in label_streams:  # one writer per label: commit order is position order
        positions = [e["position"] for e in got if e["streamName"] == stream]
        assert positions == sorted(positions), stream
    types = {e["type"] for e in got}
    assert {
        "BatchCreated",
        "TaskLeased",
        "ResponsesRanked",
        "ResponseCrowned",
        "ResponseEdited",
        "QuestionAnswered",
        "CommentAdded",
        "ActionUndone",
        "ActionRedone",
        "LabelSubmitted",
        "LabelRejected",
        "LabelApproved",
        "IssueOpened",
        "IssueCommented",
        "IssueResolved",
    } <= types, types
    assert all(e["projectId"] == story.project_id for e in got)
    # The other organization's subscriber got nothing at all.
    stranger = need(story.stranger_sub, "a stranger's subscription")
    assert stranger.received == [] and await stranger.silent_for(0.3)


# --- 8. the past: audit log and taskAsOf ----------------------------------------------------


async def test_audit_log_and_task_as_of_show_the_past(system: System, story: Story) -> None:
    mgr, ann1, ann2 = story.people["mgr"], story.people["ann1"], story.people["ann2"]
    tid = need(story.shopping_task, "a task")
    ann1_label = story.labels[("ann1", tid)]

    [edit] = await audit_events(mgr, {"projectId": story.project_id, "types": ["ResponseEdited"]})
    assert edit["actor"] == ann1.user_id and edit["actorRole"] == "ANNOTATOR"
    assert (edit["taskId"], edit["labelId"]) == (tid, ann1_label)
    assert edit["streamName"] == f"label-{ann1_label}"
    assert edit["data"]["content"][0]["value"] == EDITED
    assert edit["userAgent"] == "e2e/ann1"

    by_task = await audit_events(mgr, {"taskId": tid}, page=20)
    assert all(e["taskId"] == tid for e in by_task)
    assert [e["position"] for e in by_task] == sorted(e["position"] for e in by_task)
    by_label = await audit_events(mgr, {"labelId": ann1_label})
    assert by_label and all(e["labelId"] == ann1_label for e in by_label)
    assert {e["id"] for e in by_label} < {e["id"] for e in by_task}
    by_actor = await audit_events(mgr, {"projectId": story.project_id, "actorId": ann2.user_id})
    assert by_actor and {e["actor"] for e in by_actor} == {ann2.user_id}
    assert sum(e["type"] == "LabelSubmitted" for e in by_actor) == 3  # two tasks, one resubmit
    [reject] = await audit_events(mgr, {"taskId": tid, "types": ["LabelRejected"]})
    assert reject["data"]["reason"] == REJECT_REASON
    window = await audit_events(
        mgr, {"taskId": tid, "since": edit["occurredAt"], "until": reject["occurredAt"]}
    )
    since, until = (datetime.fromisoformat(e["occurredAt"]) for e in (edit, reject))
    inside = [e for e in by_task if since <= datetime.fromisoformat(e["occurredAt"]) <= until]
    assert [e["id"] for e in window] == [e["id"] for e in inside]
    assert window[0]["id"] == edit["id"] and reject["id"] in {e["id"] for e in window}
    history = (
        await mgr.gql("query($t: ID!) { task(id: $t) { history { id position } } }", {"t": tid})
    )["task"]["history"]
    assert [h["id"] for h in history] == [e["id"] for e in by_task]

    as_of = """query($t: ID!, $at: DateTime!) { taskAsOf(taskId: $t, at: $at) {
      status labels { id status crowns { responseId } edits { responseId content } } } }"""

    def at(ts: str, micros: int = 0) -> str:
        return (datetime.fromisoformat(ts) + timedelta(microseconds=micros)).isoformat()

    before_edit = (await mgr.gql(as_of, {"t": tid, "at": at(edit["occurredAt"], -1)}))["taskAsOf"]
    after_edit = (await mgr.gql(as_of, {"t": tid, "at": edit["occurredAt"]}))["taskAsOf"]
    label_then = {lb["id"]: lb for lb in before_edit["labels"]}[ann1_label]
    label_now = {lb["id"]: lb for lb in after_edit["labels"]}[ann1_label]
    assert before_edit["status"] == "TO_LABEL" and label_then["status"] == "DRAFT"
    assert label_then["edits"] == [] and label_then["crowns"] == label_now["crowns"] != []
    assert label_now["edits"][0]["content"] == EDITED

    before_reject = (await mgr.gql(as_of, {"t": tid, "at": at(reject["occurredAt"], -1)}))[
        "taskAsOf"
    ]
    after_reject = (await mgr.gql(as_of, {"t": tid, "at": reject["occurredAt"]}))["taskAsOf"]
    ann2_then = {lb["id"]: lb for lb in before_reject["labels"]}[story.labels[("ann2", tid)]]
    assert before_reject["status"] == "IN_REVIEW" and after_reject["status"] == "IN_REWORK"
    assert ann2_then["status"] == "SUBMITTED" and ann2_then["crowns"] == [
        {"responseId": "response-a"}
    ]
    today = (await mgr.gql(as_of, {"t": tid, "at": datetime.now().astimezone().isoformat()}))[
        "taskAsOf"
    ]
    assert today["status"] == "DONE"


# --- 9. leaderboard -------------------------------------------------------------------------


async def test_leaderboard_ranks_the_models(system: System, story: Story) -> None:
    rev = story.people["rev"]
    pid = need(story.project_id, "a project")
    q = """query($p: ID!) { leaderboard(projectId: $p) { comparisons
             models { modelConfigName strength ciLow ciHigh wins losses ties comparisons } }
           agreement(projectId: $p) { crownAgreement rankingKendallTau
             annotators { labels approved crownAgreement medianSecondsToLabel user { id } } } }"""
    # A crown beats every other response of its prompt; the ranking orders the rest (review's
    # rule). Pairs per label: shopping 1; Dataloop prompt1 1 + prompt2 2 crowned + 1 ranked.
    expected = 3 * 1 + 3 * (1 + 3)

    last: list[dict[str, Any]] = []

    async def counted() -> dict[str, Any] | None:
        data = await rev.gql(q, {"p": pid})
        last[:] = [data]
        return data if data["leaderboard"]["comparisons"] == expected else None

    try:
        data = await eventually(counted, f"{expected} comparisons on the leaderboard")
    except AssertionError as exc:
        raise AssertionError(f"{exc}: {json.dumps(last)}") from None
    models = {m["modelConfigName"]: m for m in data["leaderboard"]["models"]}
    assert set(models) == {GPT4, GPT35, ALPHA, BETA, GAMMA}
    assert (models[GPT4]["wins"], models[GPT4]["losses"]) == (3, 0)
    assert (models[GPT35]["wins"], models[GPT35]["losses"]) == (0, 3)
    assert (models[ALPHA]["wins"], models[ALPHA]["losses"]) == (9, 0)
    # Every annotator crowned alpha and ranked beta over gamma: the board says so.
    assert (models[BETA]["wins"], models[BETA]["losses"]) == (3, 6)
    assert (models[GAMMA]["wins"], models[GAMMA]["losses"]) == (0, 6)
    strength = {name: m["strength"] for name, m in models.items()}
    assert strength[GPT4] > strength[GPT35]
    assert strength[ALPHA] > strength[BETA] > strength[GAMMA]
    assert all(m["ciLow"] <= m["strength"] <= m["ciHigh"] for m in models.values())
    order = [m["modelConfigName"] for m in data["leaderboard"]["models"]]
    assert order == sorted(order, key=lambda n: -strength[n])  # listed best first
    assert data["agreement"]["crownAgreement"] == 1.0
    assert {
        a["user"]["id"]: (a["labels"], a["approved"]) for a in data["agreement"]["annotators"]
    } == {story.people[w].user_id: (2, 2) for w in ("ann1", "ann2", "ann3")}
    # All crowned alike: each annotator agrees with the others on every crown.
    assert [a["crownAgreement"] for a in data["agreement"]["annotators"]] == [1.0] * 3
    assert all(a["medianSecondsToLabel"] > 0 for a in data["agreement"]["annotators"])


# --- 10. the dpo export ---------------------------------------------------------------------


async def test_dpo_export_holds_the_edited_crowned_pairs(system: System, story: Story) -> None:
    mgr = story.people["mgr"]
    pid = need(story.project_id, "a project")
    headers = {"authorization": f"Bearer {mgr.token}"}

    async def export(**params: str) -> tuple[list[dict[str, Any]], str]:
        r = await system.http.get(
            f"/v1/projects/{pid}/export", params={"format": "dpo", **params}, headers=headers
        )
        assert r.status_code == 200, r.text
        assert r.headers["content-type"].startswith("application/x-ndjson")
        lines = [json.loads(line) for line in r.text.splitlines() if line.strip()]
        assert "_cursor" in lines[-1], lines[-1]
        return lines[:-1], lines[-1]["_cursor"]

    async def four_pairs() -> tuple[list[dict[str, Any]], str] | None:
        records, cursor = await export()
        return (records, cursor) if len(records) == 4 else None

    records, cursor = await eventually(four_pairs, "4 dpo pairs in the export")
    pairs = {(r["prompt_id"], r["chosen_model"], r["rejected_model"]) for r in records}
    assert pairs == {
        ("prompt-message-3", GPT4, GPT35),
        ("prompt1", ALPHA, BETA),
        ("prompt2", ALPHA, BETA),
        ("prompt2", ALPHA, GAMMA),
    }
    [shopping] = [r for r in records if r["prompt_id"] == "prompt-message-3"]
    assert shopping["chosen"] == [{"role": "assistant", "content": EDITED}]
    assert shopping["rejected"][0]["content"].startswith("I have 2 options for you")
    assert shopping["data_row_id"] == story.shopping_row_id
    assert shopping["project_id"] == pid
    assert set(shopping["label_ids"]) == {
        story.labels[(w, story.shopping_task)] for w in ("ann1", "ann2", "ann3")
    }
    assert [m["role"] for m in shopping["prompt"]] == ["assistant", "user", "assistant", "user"]
    fox = next(r for r in records if r["prompt_id"] == "prompt1")
    assert fox["chosen"] == [{"role": "assistant", "content": "A red fox."}]
    assert fox["rejected"] == [{"role": "assistant", "content": "It is a dog."}]
    # Resuming from the cursor: nothing lost, nothing repeated.
    rest, _ = await export(since=cursor)
    assert rest == []
    # An annotator may not export.
    r = await system.http.get(
        f"/v1/projects/{pid}/export",
        params={"format": "dpo"},
        headers={"authorization": f"Bearer {story.people['ann1'].token}"},
    )
    assert r.status_code == 403 and r.json()["code"] == "FORBIDDEN"


# --- 11. another organization ---------------------------------------------------------------


async def test_another_org_sees_and_changes_nothing(system: System, story: Story) -> None:
    stranger = need(story.stranger, "a second organization")
    pid, tid = story.project_id, story.shopping_task
    label = story.labels[("ann1", tid)]
    seen = await stranger.gql(
        """query($p: ID!, $t: ID!, $l: ID!) { project(id: $p) { id } task(id: $t) { id }
             label(id: $l) { id } projects { id } datasets { id }
             dataRow(globalKey: "shopping-1") { id }
             auditLog(filter: {projectId: $p}) { edges { node { id } } } }""",
        {"p": pid, "t": tid, "l": label},
    )
    assert seen == {
        "project": None,
        "task": None,
        "label": None,
        "projects": [],
        "datasets": [],
        "dataRow": None,
        "auditLog": {"edges": []},
    }
    missing = str(uuid.uuid4())
    for query, real, fake in [
        ("query($x: ID!) { leaderboard(projectId: $x) { comparisons } }", pid, missing),
        ("mutation($x: ID!) { claimNextTask(projectId: $x) { id } }", pid, missing),
        ("mutation($x: ID!) { approveLabel(labelId: $x) { id } }", label, missing),
        ('mutation($x: ID!) { openIssue(taskId: $x, body: "hi") { id } }', tid, missing),
    ]:
        # Exactly what a made-up id gets: nothing is learned about real ids.
        a, b = await stranger.raw(query, {"x": real}), await stranger.raw(query, {"x": fake})
        assert a["errors"][0]["extensions"]["code"] == "NOT_FOUND", a
        assert a["errors"][0]["message"] == b["errors"][0]["message"]
    auth = {"authorization": f"Bearer {stranger.token}"}
    r = await system.http.get(f"/v1/projects/{pid}/export", params={"format": "dpo"}, headers=auth)
    assert r.status_code == 404 and r.json()["code"] == "NOT_FOUND"
    r = await system.http.post(
        f"/v1/datasets/{story.dataset_id}/imports", content=b"[]", headers=auth
    )
    assert r.status_code == 404
    # ... and the project is as it was.
    after = (
        await story.people["mgr"].gql(
            "query($p: ID!) { project(id: $p) { progress { done } } }", {"p": pid}
        )
    )["project"]
    assert after["progress"]["done"] == 2
    # Its admin lists only its own users.
    users = (await stranger.gql("{ users { id email } }"))["users"]
    assert len(users) == 1 and users[0]["email"].endswith("@elsewhere.example")


# --- 10. the operator's import command ------------------------------------------------------


async def test_the_import_command_streams_a_file_into_a_dataset(system: System) -> None:
    """``preflog import FILE --dataset NAME`` beside the running system, with its settings: the
    good lines of a mixed file land, each bad line is reported with its number, and the exit
    code says that some were refused."""
    source = FIXTURES / "invalid/mixed_rows.ndjson"
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        *("-m", "preflog_cli.main", "import", str(source), "--dataset", "from-the-command"),
        env={**system.up.env, "COLUMNS": "300"},  # rich wraps lines at 80 columns otherwise
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.STDOUT,
    )
    out, _ = await asyncio.wait_for(process.communicate(), 120)
    text = out.decode()
    assert process.returncode == 1, text
    assert "7 rows read, 2 imported, 5 refused" in text, text
    refused = sorted(
        int(line.split()[1].rstrip(":")) for line in text.splitlines() if line.startswith("  line ")
    )
    assert refused == [2, 3, 5, 6, 7], text
    datasets = (await system.admin.gql("{ datasets { name dataRowCount } }"))["datasets"]
    assert {"name": "from-the-command", "dataRowCount": 2} in datasets
