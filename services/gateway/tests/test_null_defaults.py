"""API.md declares arguments and input fields with a default as nullable (``first: Int =
100``, ``orgRole: OrgRole = MEMBER``...). Generated clients send an explicit ``null`` for a
value they were not given: that takes the default, as leaving the field out does."""

from __future__ import annotations

import uuid

from .conftest import Server
from .flows import add_rows, data_of, import_rows, new_dataset, shopping_row

PROJECT = """mutation { createProject(input: {name: "nulls", qualityMode: null,
  consensusLabelCount: null, consensusCoverage: null, ontology: {format: null,
  questions: [{id: "ok", title: "OK?", kind: YES_NO, scope: null, required: null}]}})
  { id qualityMode consensusLabelCount ontology { format questions { id scope required } } } }"""
READS = """query($p: ID!, $d: ID!) {
  auditLog(filter: {projectId: $p}, first: null) { edges { node { type } } }
  dataset(id: $d) { dataRows(first: null) { edges { node { messages {
    plain: content(format: null) markdown: content } } } } }
  project(id: $p) { tasks(first: null) { edges { node { id } } } } }"""


async def test_an_explicit_null_takes_the_declared_default(system: Server) -> None:
    user = await system.gql(
        'mutation($e: String!) { createUser(input: {email: $e, name: "N", orgRole: null})'
        " { orgRole } }",
        {"e": f"{uuid.uuid4().hex[:8]}@example.com"},
    )
    assert data_of(user)["createUser"] == {"orgRole": "MEMBER"}
    project = data_of(await system.gql(PROJECT))["createProject"]
    assert (project["qualityMode"], project["consensusLabelCount"]) == ("BENCHMARK", 1)
    assert project["ontology"] == {
        "format": "NATIVE",
        "questions": [{"id": "ok", "scope": "GLOBAL", "required": False}],
    }
    dataset_id = await new_dataset(system)
    imported = await import_rows(system, dataset_id, [shopping_row(f"nul-{uuid.uuid4().hex[:8]}")])
    [task_id] = await add_rows(system, project["id"], imported["dataRowIds"])

    read = data_of(await system.gql(READS, {"p": project["id"], "d": dataset_id}))
    assert "ProjectCreated" in [e["node"]["type"] for e in read["auditLog"]["edges"]]
    [row] = read["dataset"]["dataRows"]["edges"]
    assert all(m["plain"] == m["markdown"] for m in row["node"]["messages"])
    assert [e["node"]["id"] for e in read["project"]["tasks"]["edges"]] == [task_id]
