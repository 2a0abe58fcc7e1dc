"""Pre-labels: the project's ontology, members and batches are learned from labeling's
events through the JetStream consumer; what fits becomes PreLabelsImported per data row."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from preflog_contracts.errors import Forbidden, NotFound
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.catalog import PreLabelsImported
from preflog_contracts.events.projects import (
    BatchCreated,
    MemberAdded,
    MemberRemoved,
    OntologyUpdated,
    Option,
    ProjectCreated,
    Question,
)
from preflog_contracts.rpc.ingest import ImportPreLabelsRequest, ImportResult

from .conftest import Ingest, admin_of, fixture_bytes, load_fixture, member_of

_KINDS = {"radio": "RADIO", "checklist": "CHECKLIST", "text": "TEXT"}
_SCOPES = {"global": "GLOBAL", "index": "MESSAGE"}


def questions_from(ontology: dict[str, Any]) -> list[Question]:
    """The ontology as labeling stores an imported Labelbox ontology (ids = names)."""
    return [
        Question(
            id=c["name"],
            title=c["name"],
            kind=_KINDS[c["type"]],
            scope=_SCOPES[c["scope"]],
            options=[Option(value=o["value"]) for o in c.get("options", [])],
        )
        for c in ontology["classifications"]
    ]


async def project_with_rows(ingest: Ingest) -> tuple[Any, Any, Any, str, dict[str, str]]:
    admin = admin_of()
    org = admin.org_id
    dataset = await ingest.dataset(admin)
    report = await ingest.import_body(
        admin, dataset.id, fixture_bytes("labelbox/import_file_inline.json"), "application/json"
    )
    assert report.counts.accepted == 3
    ids = {
        key: await ingest.pool.fetchval(
            "select data_row_id::text from ingest.global_keys where org_id = $1"
            " and global_key = $2",
            org,
            key,
        )
        for key in ("shopping-1", "tulip-1", "recursion-1")
    }
    manager, annotator = member_of(org), member_of(org)
    project_id = str(uuid.uuid4())
    await ingest.append_as_labeling(
        org,
        [
            ProjectCreated(project_id=project_id, name="prefs", owner_id=admin.user_id),
            OntologyUpdated(
                project_id=project_id,
                version=1,
                questions=questions_from(load_fixture("labelbox/ontology.json")),
            ),
            MemberAdded(project_id=project_id, user_id=manager.user_id, role="MANAGER"),
            MemberAdded(project_id=project_id, user_id=annotator.user_id, role="ANNOTATOR"),
            # tulip-1 stays out of the project's batches.
            BatchCreated(
                project_id=project_id,
                batch_id=str(uuid.uuid4()),
                data_row_ids=[ids["shopping-1"], ids["recursion-1"]],
            ),
        ],
    )

    async def learned() -> bool:
        rows = await ingest.pool.fetchval(
            "select count(*) from ingest.project_rows where project_id = $1", project_id
        )
        members = await ingest.pool.fetchval(
            "select count(*) from ingest.project_members where project_id = $1", project_id
        )
        return bool(rows == 2 and members == 3)

    await ingest.until(learned, "the project's batch and members")
    return admin, manager, annotator, project_id, ids


async def test_prelabels_fixture(ingest: Ingest) -> None:
    admin, manager, annotator, project_id, ids = await project_with_rows(ingest)
    annotations = [
        json.loads(line) for line in fixture_bytes("labelbox/prelabels.ndjson").splitlines()
    ]
    annotations.append(
        {
            "dataRow": {"globalKey": "shopping-1"},
            "name": "best_response",
            "answer": {"name": "Response Z"},
        }
    )
    annotations.append({"dataRow": {"globalKey": "nowhere"}, "name": "rationale", "answer": "x"})
    with pytest.raises(Forbidden):
        await ingest.call(
            "import_prelabels",
            ImportPreLabelsRequest(project_id=project_id, annotations=annotations),
            annotator,
        )
    result = await ingest.call(
        "import_prelabels",
        ImportPreLabelsRequest(project_id=project_id, annotations=annotations),
        manager,
        ImportResult,
    )
    refused = {(e.index, e.code, e.path) for e in result.errors}
    assert refused == {
        (3, "UNKNOWN_DATA_ROW", "dataRow.globalKey"),  # tulip-1 is not in the project
        (5, "UNKNOWN_OPTION", "answer.name"),
        (6, "UNKNOWN_DATA_ROW", "dataRow.globalKey"),
    }
    assert (result.accepted, result.rejected) == (4, 3)
    assert sorted(result.data_row_ids) == sorted([ids["shopping-1"], ids["recursion-1"]])

    recorded = await ingest.store.query(
        org_id=admin.org_id, types=["PreLabelsImported"], project_id=project_id
    )
    events = [decode_event_data(r.event_type, r.schema_version, r.data) for r in recorded]
    by_row = {e.data_row_id: e for e in events if isinstance(e, PreLabelsImported)}
    shopping = by_row[ids["shopping-1"]]
    assert [(p.kind, p.question_id) for p in shopping.prelabels] == [
        ("answer", "best_response"),
        ("answer", "issues_in_message"),
        ("answer", "rationale"),
    ]
    assert shopping.prelabels[1].message_id == "message-2"
    assert shopping.prelabels[0].source_id == "9b1e0d3e-0000-4000-8000-000000000001"
    [ranking] = by_row[ids["recursion-1"]].prelabels
    assert (ranking.kind, ranking.ranking) == ("ranking", [("m3", 1), ("m2", 2), ("m4", 3)])
    assert all(r.metadata.actor_role == "MANAGER" for r in recorded)


async def test_prelabels_outside_the_org_and_project_rights(ingest: Ingest) -> None:
    admin, _, _, project_id, _ = await project_with_rows(ingest)
    line = {"dataRow": {"globalKey": "shopping-1"}, "name": "rationale", "answer": "fine"}
    request = ImportPreLabelsRequest(
        project_id=project_id, annotations=[line], idempotency_key="once"
    )
    with pytest.raises(NotFound):
        await ingest.call("import_prelabels", request, admin_of())
    first = await ingest.call("import_prelabels", request, admin, ImportResult)
    again = await ingest.call("import_prelabels", request, admin, ImportResult)
    assert first == again and first.accepted == 1
    recorded = await ingest.store.query(
        org_id=admin.org_id, types=["PreLabelsImported"], project_id=project_id
    )
    assert len(recorded) == 1
    assert recorded[0].metadata.actor_role == "ADMIN"


async def test_a_manager_removed_from_the_project_may_no_longer_import_prelabels(
    ingest: Ingest,
) -> None:
    admin, manager, _, project_id, _ = await project_with_rows(ingest)
    await ingest.append_as_labeling(
        admin.org_id, [MemberRemoved(project_id=project_id, user_id=manager.user_id)]
    )

    async def forgotten() -> bool:
        return not await ingest.pool.fetchval(
            "select count(*) from ingest.project_members where project_id = $1 and user_id = $2"
            " and role is not null",
            project_id,
            manager.user_id,
        )

    await ingest.until(forgotten, "the removal")
    annotation = {"dataRow": {"globalKey": "shopping-1"}, "name": "rationale", "answer": "x"}
    with pytest.raises(Forbidden):
        await ingest.call(
            "import_prelabels",
            ImportPreLabelsRequest(project_id=project_id, annotations=[annotation]),
            manager,
        )
