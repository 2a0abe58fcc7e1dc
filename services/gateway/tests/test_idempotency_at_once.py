"""A client that retries a mutation while its first attempt is still in flight sends the same
idempotency key twice at once. Every copy must answer like the first, as must a copy sent
later (API.md, "Idempotency"), and the mutation takes effect once. Before, a copy that
decided after the first had committed was refused ("the issue is already resolved", "the
task is skipped"), and a later copy of a skip or a release failed with INTERNAL: they kept
no result with their key."""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

from .conftest import Server
from .flows import data_of, eventually, issue_opened, shopping_row

COPIES = 6


async def once(
    system: Server, query: str, variables: dict[str, Any], token: str | None = None
) -> dict[str, Any]:
    """The data of ``query`` sent ``COPIES`` times at once with one new idempotency key, and
    once more after they have all answered. Every answer must be the same (a CONFLICT, which
    says "retry", is retried with the key, as a client would) and the key's events must be
    of one transaction."""
    key = f"k-{uuid.uuid4().hex}"
    sent = {**variables, "k": key}
    bodies = await asyncio.gather(*(system.gql(query, sent, token=token) for _ in range(COPIES)))
    answers: list[dict[str, Any]] = []
    for body in [*bodies, await system.gql(query, sent, token=token)]:
        for _ in range(20):
            codes = {(e.get("extensions") or {}).get("code") for e in body.get("errors") or []}
            if codes != {"CONFLICT"}:
                break
            body = await system.gql(query, sent, token=token)
        answers.append(body)
    assert all(a == answers[0] for a in answers), (query, answers)
    transactions = await system.runtime.pool.fetchval(
        "select count(distinct tx_id) from eventlog.events"
        " where metadata->>'idempotency_key' like '%' || $1",
        key,
    )
    assert transactions == 1, (query, transactions)
    data: dict[str, Any] = data_of(answers[0])
    return next(iter(data.values()))  # type: ignore[no-any-return]


async def shown_once(system: Server, query: str, variables: dict[str, Any]) -> dict[str, Any]:
    """For a mutation that answers a secret, shown once (a token): of ``COPIES`` sent at once
    with one key, one answers it and the rest, and a later copy, are refused with CONFLICT;
    returns the one answer's data."""
    key = f"k-{uuid.uuid4().hex}"
    sent = {**variables, "k": key}
    bodies = await asyncio.gather(*(system.gql(query, sent) for _ in range(COPIES)))
    bodies.append(await system.gql(query, sent))
    answered = [b["data"] for b in bodies if not b.get("errors")]
    refused = [e["extensions"]["code"] for b in bodies for e in b.get("errors") or []]
    assert (len(answered), refused) == (1, ["CONFLICT"] * COPIES), bodies
    return next(iter(answered[0].values()))  # type: ignore[no-any-return]


async def person(system: Server, project_id: str, role: str) -> tuple[str, str]:
    """A new user with ``role`` in the project, each step made at once: (user id, token)."""
    user = await once(
        system,
        "mutation($e: String!, $k: String) {"
        ' createUser(input: {email: $e, name: "P"}, idempotencyKey: $k) { id email } }',
        {"e": f"{uuid.uuid4().hex[:8]}@example.com"},
    )
    token = await shown_once(
        system,
        "mutation($u: ID!, $k: String) {"
        ' createApiToken(userId: $u, name: "t", idempotencyKey: $k) { id token } }',
        {"u": user["id"]},
    )
    made = await system.runtime.pool.fetchval(
        "select count(*) from gateway.api_tokens where user_id = $1::uuid", user["id"]
    )
    assert made == 1
    await once(
        system,
        "mutation($p: ID!, $u: ID!, $r: ProjectRole!, $k: String) { addProjectMember(projectId: $p,"
        " userId: $u, role: $r, idempotencyKey: $k) { role user { id } } }",
        {"p": project_id, "u": user["id"], "r": role},
    )
    return str(user["id"]), str(token["token"])


CLAIM = """mutation($p: ID!, $k: String) { claimNextTask(projectId: $p, idempotencyKey: $k) {
  id status dataRow { prompts { id responses { id } } } } }"""
LABEL = "{ id status canUndo canRedo }"
SUBMIT = f"mutation($t: ID!, $k: String) {{ submitLabel(taskId: $t, idempotencyKey: $k) {LABEL} }}"


async def test_every_mutation_sent_twice_at_once_takes_effect_once(system: Server) -> None:
    keys = [f"idem-{uuid.uuid4().hex}" for _ in range(3)]
    dataset = await once(
        system, 'mutation($k: String) { createDataset(name: "d", idempotencyKey: $k) { id } }', {}
    )
    imported = await once(
        system,
        "mutation($d: ID!, $rows: [JSON!]!, $k: String) { importDataRows(datasetId: $d,"
        " rows: $rows, idempotencyKey: $k) { accepted dataRowIds } }",
        {"d": dataset["id"], "rows": [shopping_row(k) for k in keys]},
    )
    assert imported["accepted"] == 3
    project = await once(
        system,
        'mutation($k: String) { createProject(input: {name: "p", settings: {allowResponseEdit:'
        " true, allowResponseAdd: true, allowResponseDelete: true}}, idempotencyKey: $k) { id } }",
        {},
    )
    p = project["id"]
    await once(
        system,
        "mutation($p: ID!, $k: String) { updateProjectSettings(projectId: $p,"
        " settings: {crownRequired: true}, idempotencyKey: $k) { settings { crownRequired } } }",
        {"p": p},
    )
    await once(
        system,
        "mutation($p: ID!, $k: String) { updateOntology(projectId: $p, ontology: {questions:"
        ' [{id: "ok", title: "OK?", kind: YES_NO}, {id: "note", title: "Note", kind: TEXT}]},'
        " idempotencyKey: $k) { id } }",
        {"p": p},
    )
    batch = await once(
        system,
        "mutation($p: ID!, $ids: [ID!], $k: String) { addDataRowsToProject(projectId: $p,"
        " dataRowIds: $ids, idempotencyKey: $k) { id size taskIds } }",
        {"p": p, "ids": imported["dataRowIds"]},
    )
    assert batch["size"] == 3
    prelabels = (
        "mutation($p: ID!, $a: [JSON!]!, $k: String) { importPreLabels(projectId: $p,"
        " annotations: $a, idempotencyKey: $k) { accepted rejected } }"
    )
    mal = [{"dataRow": {"globalKey": keys[0]}, "name": "note", "answer": "from a model"}]

    async def taken() -> bool | None:  # ingest learns the project's questions a moment later
        probe = await system.gql(prelabels, {"p": p, "a": mal, "k": None})
        return (
            True
            if not probe.get("errors") and probe["data"]["importPreLabels"]["accepted"]
            else None
        )

    await eventually(taken, "ingest to take the pre-labels")
    assert (await once(system, prelabels, {"p": p, "a": mal}))["accepted"] == 1
    _, annotator = await person(system, p, "ANNOTATOR")
    reviewer_id, reviewer = await person(system, p, "REVIEWER")

    task = await once(system, CLAIM, {"p": p}, annotator)
    t = task["id"]
    responses = [r["id"] for r in task["dataRow"]["prompts"][0]["responses"]]
    ranking = [{"responseId": r, "rank": i + 1} for i, r in enumerate(responses)]
    for query, extra in (
        (
            "mutation($t: ID!, $g: [RankInput!]!, $k: String) {"
            f" rankResponses(taskId: $t, ranking: $g, idempotencyKey: $k) {LABEL} }}",
            {"g": ranking},
        ),
        (
            "mutation($t: ID!, $r: ID!, $k: String) {"
            f" crownResponse(taskId: $t, responseId: $r, idempotencyKey: $k) {LABEL} }}",
            {"r": responses[0]},
        ),
        (
            "mutation($t: ID!, $r: ID!, $k: String) { editResponse(taskId: $t, responseId: $r,"
            f' content: "better", idempotencyKey: $k) {LABEL} }}',
            {"r": responses[1]},
        ),
        (
            'mutation($t: ID!, $k: String) { answerQuestion(taskId: $t, questionId: "ok",'
            f" answer: true, idempotencyKey: $k) {LABEL} }}",
            {},
        ),
        (
            'mutation($t: ID!, $k: String) { addComment(taskId: $t, body: "c", idempotencyKey: $k)'
            " { id body } }",
            {},
        ),
        (f"mutation($t: ID!, $k: String) {{ undo(taskId: $t, idempotencyKey: $k) {LABEL} }}", {}),
        (f"mutation($t: ID!, $k: String) {{ redo(taskId: $t, idempotencyKey: $k) {LABEL} }}", {}),
        (SUBMIT, {}),
    ):
        label = await once(system, query, {"t": t, **extra}, annotator)
        if "editResponse" in query:
            added = await once(
                system,
                'mutation($t: ID!, $k: String) { addResponse(taskId: $t, content: "mine",'
                " idempotencyKey: $k) { id edits { responseId kind } } }",
                {"t": t},
                annotator,
            )
            mine = next(e["responseId"] for e in added["edits"] if e["kind"] == "ADDED")
            await once(
                system,
                "mutation($t: ID!, $r: ID!, $k: String) { deleteResponse(taskId: $t,"
                f" responseId: $r, idempotencyKey: $k) {LABEL} }}",
                {"t": t, "r": mine},
                annotator,
            )
    assert label["status"] == "SUBMITTED"
    label_id = label["id"]

    await eventually(lambda: issue_opened(system, t), "review to learn of the task")
    issue = await once(
        system,
        'mutation($t: ID!, $k: String) { openIssue(taskId: $t, body: "b", idempotencyKey: $k)'
        " { id } }",
        {"t": t},
        reviewer,
    )
    for query, variables in (
        (
            'mutation($i: ID!, $k: String) { commentOnIssue(issueId: $i, body: "c",'
            " idempotencyKey: $k) { id comments { body } } }",
            {"i": issue["id"]},
        ),
        (
            'mutation($i: ID!, $k: String) { resolveIssue(issueId: $i, resolution: "r",'
            " idempotencyKey: $k) { id status } }",
            {"i": issue["id"]},
        ),
        (
            'mutation($l: ID!, $k: String) { markForReview(labelId: $l, note: "n",'
            " idempotencyKey: $k) { id status } }",
            {"l": label_id},
        ),
        (
            'mutation($l: ID!, $k: String) { rejectLabel(labelId: $l, reason: "r",'
            " idempotencyKey: $k) { id status } }",
            {"l": label_id},
        ),
    ):
        await once(system, query, variables, reviewer)

    async def in_rework() -> bool | None:
        body = await system.gql(
            "query($t: ID!) { task(id: $t) { status } }", {"t": t}, token=annotator
        )
        return True if data_of(body)["task"]["status"] == "IN_REWORK" else None

    await eventually(in_rework, "labeling to learn of the rejection")
    data_of(
        await system.gql(
            "mutation($t: ID!, $r: ID!) { crownResponse(taskId: $t, responseId: $r) { id } }",
            {"t": t, "r": responses[1]},
            token=annotator,
        )
    )
    await once(system, SUBMIT, {"t": t}, annotator)
    for query in (
        "mutation($l: ID!, $k: String) { approveLabel(labelId: $l, idempotencyKey: $k)"
        " { id status } }",
        "mutation($l: ID!, $k: String) { setBenchmarkReference(labelId: $l, idempotencyKey: $k)"
        " { id isBenchmarkReference } }",
    ):
        await once(system, query, {"l": label_id}, reviewer)

    for end in (
        "releaseTask(taskId: $t, idempotencyKey: $k) { id status }",
        'skipTask(taskId: $t, reason: "s", idempotencyKey: $k) { id status }',
    ):
        claimed = await once(system, CLAIM, {"p": p}, annotator)
        assert claimed is not None and claimed["id"] != t
        await once(
            system, f"mutation($t: ID!, $k: String) {{ {end} }}", {"t": claimed["id"]}, annotator
        )

    await once(
        system,
        "mutation($p: ID!, $u: ID!, $k: String) {"
        " removeProjectMember(projectId: $p, userId: $u, idempotencyKey: $k) }",
        {"p": p, "u": reviewer_id},
    )
    tokens = await system.runtime.pool.fetch(
        "select token_id from gateway.api_tokens where user_id = $1::uuid", reviewer_id
    )
    await once(
        system,
        "mutation($i: ID!, $k: String) { revokeApiToken(tokenId: $i, idempotencyKey: $k) }",
        {"i": str(tokens[0]["token_id"])},
    )
    email = f"{uuid.uuid4().hex[:8]}@o.example"
    await shown_once(
        system,
        'mutation($e: String!, $k: String) { createOrganization(name: "O", adminEmail: $e,'
        ' adminName: "A", idempotencyKey: $k) { organization { id } token { token } } }',
        {"e": email},
    )
    # The key, not the email, decides: a repeat under another email makes no second org.
    key = f"org-{uuid.uuid4().hex}"
    again = await system.gql(
        'mutation($e: String!, $k: String) { createOrganization(name: "O", adminEmail: $e,'
        ' adminName: "A", idempotencyKey: $k) { organization { id } } }',
        {"e": f"other-{email}", "k": key},
    )
    data_of(again)
    repeat = await system.gql(
        'mutation($e: String!, $k: String) { createOrganization(name: "O", adminEmail: $e,'
        ' adminName: "A", idempotencyKey: $k) { organization { id } } }',
        {"e": f"third-{email}", "k": key},
    )
    assert [e["extensions"]["code"] for e in repeat["errors"]] == ["CONFLICT"]
    assert "created already" in repeat["errors"][0]["message"]
