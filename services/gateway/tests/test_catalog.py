"""Datasets, data rows, imports and pre-labels through the gateway, against the live ingest
(and labeling) services."""

from __future__ import annotations

import dataclasses
import json
import uuid
from collections.abc import AsyncIterator
from typing import Any

import httpx

from preflog_contracts.rpc.ingest import MAX_CHUNK_BYTES

from .conftest import Server
from .flows import (
    CLAIM,
    FIXTURES,
    add_rows,
    data_of,
    errors_of,
    eventually,
    fixture,
    import_rows,
    new_dataset,
    new_member,
    new_project,
    other_org_token,
    shopping_row,
)

DATASET = """query($id: ID!) { dataset(id: $id) { id name description dataRowCount createdAt } }"""
ROW = """query($id: ID, $key: String) { dataRow(id: $id, globalKey: $key) {
  id globalKey datasetId dataset { name } messages { id role content(format: TEXT) }
  prompts { id afterMessageId responses { id title modelConfigName } } } }"""


def auth(server: Server, token: str | None = None) -> dict[str, str]:
    return {"authorization": f"Bearer {token or server.admin_token}"}


def fresh_keys(rows: list[dict[str, object]]) -> list[dict[str, object]]:
    """The rows under global keys no other test used (keys are unique per org)."""
    tag = uuid.uuid4().hex[:8]
    return [{**row, "global_key": f"{row['global_key']}-{tag}"} for row in rows]


async def test_datasets_are_created_listed_and_counted(system: Server) -> None:
    name = f"ds-{uuid.uuid4().hex[:8]}"
    dataset_id = await new_dataset(system, name)
    listed = data_of(await system.gql("{ datasets { id name dataRowCount } }"))["datasets"]
    assert {"id": dataset_id, "name": name, "dataRowCount": 0} in listed

    rows = [*fresh_keys(fixture("labelbox/import_file_inline.json")), {"row_data": {"version": 1}}]
    result = await import_rows(system, dataset_id, rows)
    assert (result["accepted"], result["rejected"]) == (3, 1)
    assert len(result["dataRowIds"]) == 3
    [error] = result["errors"]
    assert error["index"] == 3 and error["code"] and error["message"]

    found = data_of(await system.gql(DATASET, {"id": dataset_id}))["dataset"]
    assert found["name"] == name and found["description"] == "d"
    assert found["dataRowCount"] == 3 and found["createdAt"]

    duplicate = await system.gql(
        "mutation($n: String!) { createDataset(name: $n) { id } }", {"n": name}
    )
    assert errors_of(duplicate)[0]["extensions"]["code"] == "CONFLICT"
    missing = await system.gql(DATASET, {"id": str(uuid.uuid4())})
    assert data_of(missing)["dataset"] is None


async def test_data_row_by_id_and_global_key(system: Server) -> None:
    dataset_id = await new_dataset(system)
    key = f"shop-{uuid.uuid4().hex[:8]}"
    [row_id] = (await import_rows(system, dataset_id, [shopping_row(key)]))["dataRowIds"]
    by_key = data_of(await system.gql(ROW, {"key": key}))["dataRow"]
    by_id = data_of(await system.gql(ROW, {"id": row_id}))["dataRow"]
    assert by_key == by_id
    assert by_id["id"] == row_id and by_id["globalKey"] == key
    assert by_id["datasetId"] == dataset_id and by_id["dataset"]["name"].startswith("ds-")
    assert [m["id"] for m in by_id["messages"]][:2] == ["message-0", "message-1"]
    assert by_id["messages"][0]["content"] == "Hi! How can I help?"
    [prompt] = by_id["prompts"]
    assert len(prompt["responses"]) == 2
    assert data_of(await system.gql(ROW, {"key": "no-such-key"}))["dataRow"] is None
    both = await system.gql(ROW, {"id": row_id, "key": key})
    assert errors_of(both)[0]["extensions"]["code"] == "INVALID_INPUT"


async def test_the_catalog_is_for_managers_and_a_row_for_those_who_work_on_it(
    system: Server,
) -> None:
    """Admins and project managers browse the catalog. A reviewer reads the rows of their
    projects; an annotator a row of a task they have claimed; neither lists datasets."""
    dataset_id = await new_dataset(system)
    tag = uuid.uuid4().hex[:8]
    imported = await import_rows(
        system, dataset_id, [shopping_row(f"cat-{tag}-{i}") for i in (0, 1)]
    )
    inside, outside = imported["dataRowIds"]
    project_id = await new_project(system)
    await add_rows(system, project_id, [inside])
    _, annotator = await new_member(system, project_id, "ANNOTATOR")
    _, reviewer = await new_member(system, project_id, "REVIEWER")
    _, manager = await new_member(system, project_id, "MANAGER")
    listing = """query($d: ID!) { datasets { id }
      dataset(id: $d) { dataRows { edges { node { id } } } } }"""

    async def row(token: str, **ref: str) -> str | None:
        found = data_of(await system.gql(ROW, ref, token=token))["dataRow"]
        return None if found is None else str(found["id"])

    async def browses() -> dict[str, Any] | None:
        body = await system.gql(listing, {"d": dataset_id}, token=manager)
        return None if errors_of(body) else data_of(body)

    seen = await eventually(browses, "the manager browsing the catalog")
    assert dataset_id in [d["id"] for d in seen["datasets"]]
    listed = seen["dataset"]["dataRows"]["edges"]
    assert sorted(r["node"]["id"] for r in listed) == sorted(imported["dataRowIds"])
    assert await row(manager, key=f"cat-{tag}-1") == outside

    async def reviewer_reads() -> str | None:
        return await row(reviewer, key=f"cat-{tag}-0")

    assert await eventually(reviewer_reads, "the reviewer reading a row of their project") == inside
    for token in (reviewer, annotator):
        refused = await system.gql(listing, {"d": dataset_id}, token=token)
        assert {e["extensions"]["code"] for e in errors_of(refused)} == {"FORBIDDEN"}
        assert "browse the catalog" in errors_of(refused)[0]["message"]
        assert await row(token, id=outside) is None
        assert await row(token, key=f"cat-{tag}-1") is None
    assert await row(annotator, id=inside) is None  # not claimed yet
    claimed = data_of(await system.gql(CLAIM, {"p": project_id}, token=annotator))["claimNextTask"]
    assert claimed is not None
    assert await row(annotator, id=inside) == inside
    assert await row(annotator, key=f"cat-{tag}-0") is None  # by key, the catalog only


async def test_other_org_sees_no_dataset_or_row(system: Server) -> None:
    dataset_id = await new_dataset(system)
    key = f"shop-{uuid.uuid4().hex[:8]}"
    [row_id] = (await import_rows(system, dataset_id, [shopping_row(key)]))["dataRowIds"]
    other = await other_org_token(system)
    assert data_of(await system.gql(DATASET, {"id": dataset_id}, token=other))["dataset"] is None
    assert data_of(await system.gql("{ datasets { id } }", token=other))["datasets"] == []
    assert data_of(await system.gql(ROW, {"id": row_id}, token=other))["dataRow"] is None
    assert data_of(await system.gql(ROW, {"key": key}, token=other))["dataRow"] is None
    refused = await system.gql(
        "mutation($d: ID!) { importDataRows(datasetId: $d, rows: [{}]) { accepted } }",
        {"d": dataset_id},
        token=other,
    )
    assert errors_of(refused)[0]["extensions"]["code"] == "NOT_FOUND"


async def test_import_idempotency_key_returns_first_result(system: Server) -> None:
    dataset_id = await new_dataset(system)
    query = """mutation($d: ID!, $rows: [JSON!]!, $k: String) {
      importDataRows(datasetId: $d, rows: $rows, idempotencyKey: $k) { accepted dataRowIds } }"""
    variables = {"d": dataset_id, "rows": [shopping_row(f"k-{uuid.uuid4().hex}")], "k": "imp-1"}
    first = data_of(await system.gql(query, variables))["importDataRows"]
    again = data_of(await system.gql(query, variables))["importDataRows"]
    assert first == again and first["accepted"] == 1
    count = data_of(await system.gql(DATASET, {"id": dataset_id}))["dataset"]["dataRowCount"]
    assert count == 1


async def test_an_idempotency_key_belongs_to_its_mutation(system: Server) -> None:
    """The key a client used for one mutation, sent with another, is a new request of that
    one: never the first mutation's result (of another type)."""
    key = f"k-{uuid.uuid4().hex}"
    calls = [
        ('mutation($k: String) { createDataset(name: "d", idempotencyKey: $k) { id } }', {}),
        (
            'mutation($k: String) { createProject(input: {name: "p"}, idempotencyKey: $k) { id } }',
            {},
        ),
        (
            'mutation($k: String, $e: String!) { createUser(input: {email: $e, name: "n"},'
            " idempotencyKey: $k) { id } }",
            {"e": f"{uuid.uuid4().hex[:8]}@example.com"},
        ),
    ]
    ids = []
    for query, extra in calls:
        first = data_of(await system.gql(query, {"k": key, **extra}))
        again = data_of(await system.gql(query, {"k": key, **extra}))
        assert first == again
        ids.append(next(iter(first.values()))["id"])
    assert len(set(ids)) == 3
    project = ids[1]
    claimed = await system.gql(
        "mutation($k: String, $p: ID!) { claimNextTask(projectId: $p, idempotencyKey: $k) { id } }",
        {"k": key, "p": project},
    )
    assert data_of(claimed) == {"claimNextTask": None}  # an empty queue, not another result


async def _body(lines: list[bytes], piece: int = 64 * 1024) -> AsyncIterator[bytes]:
    data = b"".join(lines)
    for start in range(0, len(data), piece):
        yield data[start : start + piece]


async def test_rest_import_streams_ndjson_in_chunks(system: Server) -> None:
    dataset_id = await new_dataset(system)
    prefix = uuid.uuid4().hex[:8]
    lines = [json.dumps(shopping_row(f"{prefix}-{i}")).encode() + b"\n" for i in range(800)]
    lines.insert(10, b"this is not json\n")
    assert sum(map(len, lines)) > 2 * MAX_CHUNK_BYTES  # several import_chunk calls
    calls = system.runtime.rpc.calls
    r = await system.http.post(
        f"/v1/datasets/{dataset_id}/imports",
        content=_body(lines),
        headers={**auth(system), "content-type": "application/x-ndjson; charset=utf-8"},
    )
    assert r.status_code == 202, r.text
    import_id = r.json()["importId"]
    assert r.json()["status"] == "COMPLETED"
    assert system.runtime.rpc.calls - calls >= 3  # start + at least two chunks

    report = await system.http.get(f"/v1/imports/{import_id}", headers=auth(system))
    assert report.status_code == 200, report.text
    body = report.json()
    assert body["importId"] == import_id and body["status"] == "COMPLETED"
    assert body["counts"]["accepted"] == 800 and body["counts"]["rejected"] == 1
    [error] = body["errors"]
    assert error["line"] == 11 and error["code"] and "message" in error
    count = data_of(await system.gql(DATASET, {"id": dataset_id}))["dataset"]["dataRowCount"]
    assert count == 800
    paged = await system.http.get(
        f"/v1/imports/{import_id}", params={"errorsLimit": "0"}, headers=auth(system)
    )
    assert paged.json()["errors"] == []


async def test_rest_import_of_a_labelbox_import_file(system: Server) -> None:
    dataset_id = await new_dataset(system)
    r = await system.http.post(
        f"/v1/datasets/{dataset_id}/imports",
        content=json.dumps(fresh_keys(fixture("labelbox/import_file_inline.json"))).encode(),
        headers={**auth(system), "content-type": "application/json"},
    )
    assert r.status_code == 202, r.text
    report = await system.http.get(f"/v1/imports/{r.json()['importId']}", headers=auth(system))
    assert report.json()["counts"]["accepted"] == 3


async def test_rest_import_refusals_use_http_statuses(system: Server) -> None:
    dataset_id = await new_dataset(system)
    url = f"/v1/datasets/{dataset_id}/imports"
    no_token = await system.http.post(url, content=b"[]")
    assert no_token.status_code == 401 and no_token.json()["code"] == "UNAUTHENTICATED"
    missing = await system.http.post(
        f"/v1/datasets/{uuid.uuid4()}/imports", content=b"[]", headers=auth(system)
    )
    assert missing.status_code == 404 and missing.json()["code"] == "NOT_FOUND"
    other = await other_org_token(system)
    hidden = await system.http.post(url, content=b"[]", headers=auth(system, other))
    assert hidden.status_code == 404 and hidden.json() == missing.json()
    wrong_type = await system.http.post(
        url, content=b"x", headers={**auth(system), "content-type": "text/csv"}
    )
    assert wrong_type.status_code == 400 and wrong_type.json()["code"] == "INVALID_INPUT"
    unknown = await system.http.get(f"/v1/imports/{uuid.uuid4()}", headers=auth(system))
    assert unknown.status_code == 404 and unknown.json()["code"] == "NOT_FOUND"
    bad_page = await system.http.get(
        f"/v1/imports/{uuid.uuid4()}", params={"errorsLimit": "x"}, headers=auth(system)
    )
    assert bad_page.status_code == 400 and "errorsLimit" in bad_page.json()["fields"]


async def test_rest_import_of_a_broken_json_body_fails_the_import(system: Server) -> None:
    dataset_id = await new_dataset(system)
    r = await system.http.post(
        f"/v1/datasets/{dataset_id}/imports",
        content=b'[{"row_data": ',
        headers={**auth(system), "content-type": "application/json"},
    )
    assert r.status_code == 202 and r.json()["status"] == "FAILED"
    report = await system.http.get(f"/v1/imports/{r.json()['importId']}", headers=auth(system))
    assert report.json()["status"] == "FAILED" and report.json()["failure"]


async def test_pre_labels_land_on_project_rows(system: Server) -> None:
    # The pre-labels name the fixture's own global keys: a fresh org holds none of them yet.
    system = dataclasses.replace(system, admin_token=await other_org_token(system))
    dataset_id = await new_dataset(system)
    result = await import_rows(system, dataset_id, fixture("labelbox/import_file_inline.json"))
    project_id = await new_project(
        system, ontology={"format": "LABELBOX", "source": fixture("labelbox/ontology.json")}
    )
    await add_rows(system, project_id, result["dataRowIds"])
    lines = [
        json.loads(line)
        for line in (FIXTURES / "labelbox/prelabels.ndjson").read_text().splitlines()
        if line.strip()
    ]
    query = """mutation($p: ID!, $a: [JSON!]!) { importPreLabels(projectId: $p, annotations: $a) {
      accepted rejected errors { index code message } } }"""

    async def accepted() -> dict[str, object] | None:
        body = await system.gql(query, {"p": project_id, "a": lines})
        if errors_of(body):
            return None  # ingest has not learned the project yet
        out: dict[str, object] = data_of(body)["importPreLabels"]
        return out if out["accepted"] else None

    out = await eventually(accepted, "ingest to accept the pre-labels")
    assert out["accepted"] + out["rejected"] == len(lines)  # type: ignore[operator]

    # Each annotator claims a task: its new label starts from the row's pre-labels, each
    # visibly marked until the annotator touches it.
    claim = """mutation($p: ID!) { claimNextTask(projectId: $p) { id myLabel { prelabelsPending
      answers { questionId prelabel { source confidence } } crowns { prelabel { source } }
      rankings { prelabel { source } } } } }"""
    labels = []
    for _ in result["dataRowIds"]:
        _, token = await new_member(system, project_id, "ANNOTATOR")
        task = data_of(await system.gql(claim, {"p": project_id}, token=token))["claimNextTask"]
        labels.append((token, task))
    for _, task in labels:
        label = task["myLabel"]
        items = label["answers"] + label["crowns"] + label["rankings"]
        assert label["prelabelsPending"] == sum(1 for i in items if i["prelabel"]), label
    marks = [
        i["prelabel"] for _, t in labels for i in t["myLabel"]["answers"] + t["myLabel"]["rankings"]
    ]
    assert len(marks) >= 4 and {m["source"] for m in marks} == {"labelbox_mal"}
    # The annotator answers the pre-labelled TEXT question themselves: it is theirs now.
    [(token, task)] = [
        (token, t)
        for token, t in labels
        if "rationale" in {a["questionId"] for a in t["myLabel"]["answers"]}
    ]
    answered = await system.gql(
        """mutation($t: ID!) { answerQuestion(taskId: $t, questionId: "rationale", answer: "mine")
          { prelabelsPending answers { questionId prelabel { source } } } }""",
        {"t": task["id"]},
        token=token,
    )
    after = data_of(answered)["answerQuestion"]
    assert after["prelabelsPending"] == task["myLabel"]["prelabelsPending"] - 1
    assert [a["prelabel"] for a in after["answers"] if a["questionId"] == "rationale"] == [None]


async def test_rest_import_needs_no_buffering_of_the_whole_body(system: Server) -> None:
    """The gateway passes chunks on while the body is still arriving: this client withholds
    the rest of its body until the first chunk reached ingest (a gateway that buffered the
    whole body would never get there)."""
    dataset_id = await new_dataset(system)
    prefix = uuid.uuid4().hex[:8]
    lines = [json.dumps(shopping_row(f"{prefix}-{i}")).encode() + b"\n" for i in range(1600)]
    data = b"".join(lines)
    assert len(data) > 2 * MAX_CHUNK_BYTES + 64 * 1024
    start_calls = system.runtime.rpc.calls

    async def first_chunk_sent() -> bool | None:
        return True if system.runtime.rpc.calls - start_calls >= 2 else None

    async def body() -> AsyncIterator[bytes]:
        withheld = 2 * MAX_CHUNK_BYTES + 1  # the gateway reads one chunk ahead
        yield data[:withheld]
        await eventually(first_chunk_sent, "start_import and the first chunk")
        yield data[withheld:]

    async with httpx.AsyncClient(base_url=system.url, timeout=60) as client:
        r = await client.post(
            f"/v1/datasets/{dataset_id}/imports",
            content=body(),
            headers={**auth(system), "content-type": "application/x-ndjson"},
        )
    assert r.status_code == 202, r.text
    assert r.json()["counts"]["accepted"] == 1600


async def test_rows_added_straight_after_their_import_are_all_there(system: Server) -> None:
    """A manager who imports and at once adds the dataset, the keys or the ids gets every
    row, though labeling learns rows from ingest's events a moment later; a row that ingest
    does not have either is refused by name."""
    add = """mutation($p: ID!, $ids: [ID!], $keys: [String!], $d: ID) {
      addDataRowsToProject(projectId: $p, dataRowIds: $ids, globalKeys: $keys, datasetId: $d)
      { size taskIds } }"""
    for how in ("datasetId", "globalKeys", "dataRowIds"):
        dataset_id = await new_dataset(system)
        tag = uuid.uuid4().hex[:8]
        rows = [shopping_row(f"arrive-{tag}-{i}") for i in range(40)]
        result = await import_rows(system, dataset_id, rows)
        assert result["accepted"] == 40
        project_id = await new_project(system)
        variables: dict[str, object] = {"p": project_id}
        if how == "datasetId":
            variables["d"] = dataset_id
        elif how == "globalKeys":
            variables["keys"] = [r["global_key"] for r in rows]
        else:
            variables["ids"] = result["dataRowIds"]
        added = data_of(await system.gql(add, variables))["addDataRowsToProject"]
        assert added["size"] == 40, how

    project_id = await new_project(system)
    refused = await system.gql(add, {"p": project_id, "keys": [f"nobody-has-{uuid.uuid4().hex}"]})
    [error] = errors_of(refused)
    assert error["extensions"]["code"] == "INVALID_INPUT"
    assert list(error["extensions"]["fields"]) == ["global_keys[0]"]


async def test_a_dataset_lists_its_rows_in_import_order_page_by_page(system: Server) -> None:
    dataset_id = await new_dataset(system)
    tag = uuid.uuid4().hex[:8]
    keys = [f"page-{tag}-{i:02d}" for i in range(23)]
    for start in (0, 10):  # two imports: the second's rows come after the first's
        end = 10 if start == 0 else 23
        assert (await import_rows(system, dataset_id, [shopping_row(k) for k in keys[start:end]]))[
            "accepted"
        ] == end - start
    q = """query($d: ID!, $n: Int!, $a: String) { dataset(id: $d) { dataRows(first: $n, after: $a) {
      edges { cursor node { id globalKey datasetId prompts { id } } }
      pageInfo { hasNextPage endCursor } } } }"""
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = data_of(await system.gql(q, {"d": dataset_id, "n": 10, "a": after}))["dataset"][
            "dataRows"
        ]
        pages += 1
        seen += [e["node"]["globalKey"] for e in page["edges"]]
        assert all(
            e["node"]["datasetId"] == dataset_id and e["node"]["prompts"] for e in page["edges"]
        )
        if not page["pageInfo"]["hasNextPage"]:
            break
        after = page["pageInfo"]["endCursor"]
    assert (seen, pages) == (keys, 3)

    too_big = await system.gql(q, {"d": dataset_id, "n": 501, "a": None})
    assert errors_of(too_big)[0]["extensions"]["code"] == "INVALID_INPUT"
    forged = await system.gql(q, {"d": dataset_id, "n": 5, "a": "not-a-cursor"})
    assert errors_of(forged)[0]["extensions"]["code"] == "INVALID_INPUT"
    stranger = await other_org_token(system)
    hidden = await system.gql(q, {"d": dataset_id, "n": 5, "a": None}, token=stranger)
    assert data_of(hidden)["dataset"] is None
