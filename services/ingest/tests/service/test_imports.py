"""Imports through the service, over NATS, exactly as the gateway and the CLI call it."""

from __future__ import annotations

import json
import uuid

import pytest

from preflog_contracts.errors import Conflict, Forbidden, Invalid, NotFound
from preflog_contracts.events import decode_event_data
from preflog_contracts.events.catalog import DataRowImported
from preflog_contracts.events.projects import BatchCreated, MemberAdded
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.ingest import (
    ChunkAck,
    CreateDatasetRequest,
    DataRowPage,
    DataRowRef,
    DataRowView,
    DatasetRef,
    DatasetView,
    GetImportRequest,
    IdsRequest,
    ImportChunk,
    ImportResult,
    ImportRowsRequest,
    ImportStartedView,
    ImportView,
    ListDataRowsRequest,
    ListDatasetsRequest,
    StartImportRequest,
)

from .conftest import Ingest, admin_of, fixture_bytes, load_fixture, make_manager, member_of

NDJSON = "application/x-ndjson"
JSON = "application/json"

VALID_DOCUMENTS = [
    "labelbox/v1_shopping.json",
    "labelbox/v1_image.json",
    "labelbox/v1_video.json",
    "labelbox/v1_audio.json",
    "labelbox/v2_model_chat.json",
    "dataloop/prompt_item_two_prompts.json",
    "edge/one_model_output.json",
    "edge/script_injection.json",
]

INVALID = {
    "content_not_string.json": ("WRONG_TYPE", "modelOutputs[0].content"),
    "dataloop_bad_mimetype.json": ("UNSUPPORTED_MIMETYPE", "prompts.p1[0].mimetype"),
    "dataloop_no_prompts.json": ("NO_PROMPTS", "prompts"),
    "duplicate_message_id.json": ("DUPLICATE_MESSAGE_ID", "messages[1].messageId"),
    "message_too_long.json": ("MESSAGE_TOO_LONG", "messages[0].content"),
    "missing_message_id.json": ("MISSING_FIELD", "messages[0].messageId"),
    "no_model_outputs.json": ("NO_MODEL_OUTPUTS", "modelOutputs"),
    "not_json.txt": ("INVALID_JSON", ""),
    "too_many_messages.json": ("TOO_MANY_MESSAGES", "messages"),
    "user_missing.json": ("MISSING_FIELD", "messages[0].user"),
    "wrong_type.json": ("WRONG_TYPE", "type"),
    "wrong_version.json": ("WRONG_VERSION", "version"),
}


@pytest.mark.parametrize("name", VALID_DOCUMENTS)
async def test_each_fixture_document_imports_as_one_row(ingest: Ingest, name: str) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    # Small chunks: every document is cut mid-row several times on its way in.
    report = await ingest.import_body(admin, dataset.id, fixture_bytes(name), JSON, chunk_size=97)
    assert report.status == "COMPLETED", report
    assert (report.counts.received, report.counts.accepted, report.errors) == (1, 1, [])
    [view] = await ingest.call(
        "get_datasets", IdsRequest(ids=[dataset.id]), admin, list[DatasetView]
    )
    assert view.data_row_count == 1


async def test_dataloop_item_with_its_annotations(ingest: Ingest) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    item = load_fixture("dataloop/prompt_item_two_prompts.json")
    item["annotations"] = load_fixture("dataloop/prompt_item_two_prompts.annotations.json")
    result = await ingest.call(
        "import_rows", ImportRowsRequest(dataset_id=dataset.id, rows=[item]), admin, ImportResult
    )
    assert (result.accepted, result.rejected) == (1, 0), result
    row = await ingest.call("data_row", DataRowRef(id=result.data_row_ids[0]), admin, DataRowView)
    assert row.source_format == "dataloop"
    assert [len(p.responses) > 0 for p in row.row.prompts] == [True, True]


async def test_import_file_inline_array_lands_every_row(ingest: Ingest) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    body = fixture_bytes("labelbox/import_file_inline.json")
    expected = [r["global_key"] for r in json.loads(body)]
    report = await ingest.import_body(admin, dataset.id, body, JSON, chunk_size=500)
    assert report.counts.accepted == len(expected) and report.errors == []
    for key in expected:
        row = await ingest.call("data_row", DataRowRef(global_key=key), admin, DataRowView)
        assert row.global_key == key and row.dataset_id == dataset.id
        assert row.row.messages and row.row.prompts


@pytest.mark.parametrize("name", sorted(INVALID))
async def test_each_invalid_fixture_is_refused_naming_row_and_field(
    ingest: Ingest, name: str
) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    report = await ingest.import_body(admin, dataset.id, fixture_bytes(f"invalid/{name}"), JSON)
    code, path = INVALID[name]
    assert report.status == "COMPLETED"
    assert (report.counts.accepted, report.counts.rejected) == (0, 1)
    assert any(e.line == 1 and e.code == code and e.path == path for e in report.errors), report
    assert (
        await ingest.call("get_dataset", DatasetRef(dataset_id=dataset.id), admin, DatasetView)
    ).data_row_count == 0


async def test_mixed_rows_land_the_good_ones_and_report_each_bad_line(ingest: Ingest) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    report = await ingest.import_body(
        admin, dataset.id, fixture_bytes("invalid/mixed_rows.ndjson"), NDJSON, chunk_size=1000
    )
    assert report.status == "COMPLETED"
    assert report.counts.received == 7
    assert (report.counts.accepted, report.counts.rejected, report.counts.duplicates) == (2, 5, 0)
    assert report.counts.fetched == 0  # neither forbidden URL was fetched
    by_line = {e.line: (e.code, e.path, e.global_key) for e in report.errors}
    assert by_line == {
        2: ("INVALID_JSON", "", None),
        3: ("WRONG_VERSION", "row_data.version", "bad-version"),
        5: ("DUPLICATE_GLOBAL_KEY", "global_key", "ok-1"),
        6: ("BLOCKED_ADDRESS", "row_data", "ssrf-1"),
        7: ("BAD_URL", "row_data", "file-1"),
    }
    for key in ("ok-1", "ok-2"):
        row = await ingest.call("data_row", DataRowRef(global_key=key), admin, DataRowView)
        assert row.global_key == key
    # The rejections are events of the import's stream, one per reported error.
    events = await ingest.store.read_stream(f"import-{report.import_id}")
    assert [e.event_type for e in events].count("DataRowImportRejected") == 5
    assert events[-1].event_type == "ImportCompleted"


async def test_reimport_reports_duplicates_and_imports_nothing_twice(ingest: Ingest) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    body = fixture_bytes("labelbox/import_file_inline.json")
    first = await ingest.import_body(admin, dataset.id, body, JSON)
    again = await ingest.import_body(admin, dataset.id, body, JSON)
    assert again.counts.accepted == 0
    assert again.counts.duplicates == first.counts.accepted
    assert again.counts.rejected == 0
    assert all(e.code == "DUPLICATE_GLOBAL_KEY" for e in again.errors)
    # Keys are unique in the whole org: another dataset of the org does not take them either.
    other = await ingest.dataset(admin)
    third = await ingest.import_body(admin, other.id, body, JSON)
    assert third.counts.duplicates == first.counts.accepted
    [view] = await ingest.call(
        "get_datasets", IdsRequest(ids=[dataset.id]), admin, list[DatasetView]
    )
    assert view.data_row_count == first.counts.accepted
    # A bare row without a global key gets the hash of its payload: the same row is the same.
    row = load_fixture("labelbox/v1_shopping.json")
    once = await ingest.call(
        "import_rows", ImportRowsRequest(dataset_id=other.id, rows=[row]), admin, ImportResult
    )
    twice = await ingest.call(
        "import_rows", ImportRowsRequest(dataset_id=other.id, rows=[row]), admin, ImportResult
    )
    assert (once.accepted, twice.accepted, twice.duplicates) == (1, 0, 1)


async def test_import_rows_reports_by_index_and_is_idempotent(ingest: Ingest) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    good = {"row_data": load_fixture("labelbox/v1_image.json"), "global_key": "img-1"}
    rows = [good, {"row_data": "file:///etc/passwd", "global_key": "f"}, 42]
    key = str(uuid.uuid4())
    result = await ingest.call(
        "import_rows",
        ImportRowsRequest(dataset_id=dataset.id, rows=rows, idempotency_key=key),
        admin,
        ImportResult,
    )
    assert (result.accepted, result.rejected, len(result.data_row_ids)) == (1, 2, 1)
    assert [(e.index, e.code) for e in result.errors] == [(1, "BAD_URL"), (2, "WRONG_TYPE")]
    assert result.errors[0].global_key == "f"
    repeat = await ingest.call(
        "import_rows",
        ImportRowsRequest(dataset_id=dataset.id, rows=rows, idempotency_key=key),
        admin,
        ImportResult,
    )
    assert repeat == result
    assert (
        await ingest.call("get_dataset", DatasetRef(dataset_id=dataset.id), admin, DatasetView)
    ).data_row_count == 1


async def test_data_row_event_carries_what_other_services_need(ingest: Ingest) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    row = {
        "row_data": load_fixture("labelbox/v1_shopping.json"),
        "global_key": "shop-meta",
        "external_id": "ext-7",
        "metadata_fields": [{"name": "split", "value": "train"}],
        "attachments": [{"type": "TEXT", "value": "note"}],
    }
    result = await ingest.call(
        "import_rows", ImportRowsRequest(dataset_id=dataset.id, rows=[row]), admin, ImportResult
    )
    [data_row_id] = result.data_row_ids
    [recorded] = await ingest.store.read_stream(f"datarow-{data_row_id}")
    event = decode_event_data(recorded.event_type, recorded.schema_version, recorded.data)
    assert isinstance(event, DataRowImported)
    assert (event.global_key, event.external_id, event.dataset_id) == (
        "shop-meta",
        "ext-7",
        dataset.id,
    )
    assert event.metadata == {"split": "train"}
    assert event.attachments == [{"type": "TEXT", "value": "note"}]
    assert event.source_format == "labelbox_v1"
    assert event.original == row
    assert [r.id for r in event.row.prompts[0].responses] == ["response-a", "response-b"]
    assert recorded.org_id == admin.org_id and recorded.metadata.actor_id == admin.user_id
    view = await ingest.call(
        "data_row", DataRowRef(id=data_row_id, with_original=True), admin, DataRowView
    )
    assert view.original == row and view.external_id == "ext-7"
    [listed] = await ingest.call(
        "get_data_rows", IdsRequest(ids=[data_row_id, "nope"]), admin, list[DataRowView]
    )
    assert listed.id == data_row_id and listed.original is None


async def test_roles(ingest: Ingest) -> None:
    admin = admin_of()
    org = admin.org_id
    dataset = await ingest.dataset(admin)
    member = member_of(org)
    with pytest.raises(Forbidden):
        await ingest.call("create_dataset", CreateDatasetRequest(name="x"), member)
    with pytest.raises(Forbidden):
        await ingest.call("start_import", StartImportRequest(dataset_id=dataset.id), member)
    with pytest.raises(Forbidden):
        await ingest.call("import_rows", ImportRowsRequest(dataset_id=dataset.id, rows=[]), member)
    manager, _ = await make_manager(ingest, org, "MANAGER")
    owner, _ = await make_manager(ingest, org, "OWNER")
    reviewer, _ = await make_manager(ingest, org, "REVIEWER")
    with pytest.raises(Forbidden):
        await ingest.call(
            "import_rows", ImportRowsRequest(dataset_id=dataset.id, rows=[]), reviewer
        )
    with pytest.raises(Forbidden):  # managers upload data but do not create datasets
        await ingest.call("create_dataset", CreateDatasetRequest(name="y"), manager)
    for who, key in ((manager, "by-manager"), (owner, "by-owner")):
        row = {"row_data": load_fixture("labelbox/v1_audio.json"), "global_key": key}
        result = await ingest.call(
            "import_rows", ImportRowsRequest(dataset_id=dataset.id, rows=[row]), who, ImportResult
        )
        assert result.accepted == 1
        recorded = await ingest.store.read_stream(f"datarow-{result.data_row_ids[0]}")
        assert recorded[0].metadata.actor_role in ("MANAGER", "OWNER")
    # Anyone in the org reads a dataset by id (no content); an import's report is its
    # starter's and admins'.
    assert (
        await ingest.call("get_dataset", DatasetRef(dataset_id=dataset.id), member, DatasetView)
    ).data_row_count == 2
    started = await ingest.call(
        "start_import", StartImportRequest(dataset_id=dataset.id), manager, ImportStartedView
    )
    with pytest.raises(NotFound):
        await ingest.call("get_import", GetImportRequest(import_id=started.import_id), member)
    assert (
        await ingest.call(
            "get_import", GetImportRequest(import_id=started.import_id), admin, ImportView
        )
    ).status == "RUNNING"
    with pytest.raises(Forbidden):
        await ingest.call(
            "import_chunk",
            ImportChunk(import_id=started.import_id, seq=0, data=b"", final=True),
            admin,
        )


async def test_the_catalog_is_for_admins_and_managers(ingest: Ingest) -> None:
    """Browsing datasets and reading rows: admins and managers or owners of some project;
    a reviewer reads the rows of their projects; an annotator or a member of no project
    reads none (they see a row through their tasks, in labeling)."""
    admin = admin_of()
    org = admin.org_id
    dataset = await ingest.dataset(admin)
    rows = [
        {"row_data": load_fixture("labelbox/v1_audio.json"), "global_key": f"k{i}"}
        for i in range(2)
    ]
    result = await ingest.call(
        "import_rows", ImportRowsRequest(dataset_id=dataset.id, rows=rows), admin, ImportResult
    )
    inside, outside = result.data_row_ids
    manager, _ = await make_manager(ingest, org, "MANAGER")
    reviewer, project_id = await make_manager(ingest, org, "REVIEWER")
    annotator = member_of(org)
    stranger = member_of(org)
    await ingest.append_as_labeling(
        org,
        [
            MemberAdded(project_id=project_id, user_id=annotator.user_id, role="ANNOTATOR"),
            BatchCreated(project_id=project_id, batch_id="b", data_row_ids=[inside]),
        ],
    )

    async def learned() -> bool:
        found = await ingest.pool.fetchval(
            "select count(*) from ingest.project_rows where project_id = $1", project_id
        )
        members = await ingest.pool.fetchval(
            "select count(*) from ingest.project_members where project_id = $1", project_id
        )
        return found == 1 and members == 3  # the creator, the reviewer, the annotator

    await ingest.until(learned, "the project's batch and annotator")

    async def row(who: Identity, **ref: str) -> str | None:
        view = await ingest.call("data_row", DataRowRef(**ref), who, DataRowView | None)
        return None if view is None else view.id

    async def batch(who: Identity) -> list[str]:
        views = await ingest.call(
            "get_data_rows", IdsRequest(ids=[inside, outside]), who, list[DataRowView]
        )
        return sorted(v.id for v in views)

    for who in (admin, manager):
        assert [
            d.id
            for d in await ingest.call(
                "list_datasets", ListDatasetsRequest(), who, list[DatasetView]
            )
        ] == [dataset.id]
        page = await ingest.call(
            "list_data_rows", ListDataRowsRequest(dataset_id=dataset.id), who, DataRowPage
        )
        assert sorted(v.id for v in page.items) == sorted([inside, outside])
        assert await row(who, id=outside) == outside
        assert await row(who, global_key="k1") == outside
        assert await batch(who) == sorted([inside, outside])
    for who in (reviewer, annotator, stranger):
        for op, body in (
            ("list_datasets", ListDatasetsRequest()),
            ("list_data_rows", ListDataRowsRequest(dataset_id=dataset.id)),
        ):
            with pytest.raises(Forbidden) as refused:
                await ingest.call(op, body, who)
            assert "browse the catalog" in refused.value.message
        assert await row(who, id=outside) is None
        assert await row(who, global_key="k1") is None
    assert await row(reviewer, id=inside) == inside
    assert await row(reviewer, global_key="k0") == inside
    assert await batch(reviewer) == [inside]
    for who in (annotator, stranger):
        assert await row(who, id=inside) is None
        assert await batch(who) == []


async def test_another_org_sees_nothing(ingest: Ingest) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin, "shared-name")
    report = await ingest.import_body(
        admin, dataset.id, fixture_bytes("labelbox/import_file_inline.json"), JSON
    )
    key = report.errors[0].global_key if report.errors else None
    assert key is None
    stranger = admin_of()  # an admin, but of another org
    for op, body in (
        ("get_dataset", DatasetRef(dataset_id=dataset.id)),
        ("get_import", GetImportRequest(import_id=report.import_id)),
        ("start_import", StartImportRequest(dataset_id=dataset.id)),
        ("import_rows", ImportRowsRequest(dataset_id=dataset.id, rows=[])),
        ("import_chunk", ImportChunk(import_id=report.import_id, seq=0, data=b"")),
    ):
        with pytest.raises(NotFound) as missing:
            await ingest.call(op, body, stranger)
        assert "not found" in missing.value.message
    assert (
        await ingest.call("list_datasets", ListDatasetsRequest(), stranger, list[DatasetView]) == []
    )
    [mine] = await ingest.call(
        "list_datasets", ListDatasetsRequest(name="shared-name"), admin, list[DatasetView]
    )
    assert mine.id == dataset.id
    ids = [r["global_key"] for r in load_fixture("labelbox/import_file_inline.json")]
    assert await ingest.call("data_row", DataRowRef(global_key=ids[0]), stranger) is None
    # The same name and the same global keys are free in the other org.
    theirs = await ingest.dataset(stranger, "shared-name")
    again = await ingest.import_body(
        stranger, theirs.id, fixture_bytes("labelbox/import_file_inline.json"), JSON
    )
    assert again.counts.accepted == report.counts.accepted
    with pytest.raises(Conflict):
        await ingest.dataset(admin, "shared-name")


async def test_chunk_protocol(ingest: Ingest) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    started = await ingest.start_import(admin, dataset.id, NDJSON)
    body = fixture_bytes("invalid/mixed_rows.ndjson")
    half = len(body) // 2
    first = ImportChunk(import_id=started.import_id, seq=0, data=body[:half])
    ack = await ingest.call("import_chunk", first, admin, ChunkAck)
    assert ack.status == "RUNNING"
    # A retried chunk (lost reply) gets the same answer and imports nothing twice.
    assert await ingest.call("import_chunk", first, admin, ChunkAck) == ack
    with pytest.raises(Invalid):
        await ingest.call(
            "import_chunk", ImportChunk(import_id=started.import_id, seq=5, data=b""), admin
        )
    final = await ingest.call(
        "import_chunk",
        ImportChunk(import_id=started.import_id, seq=1, data=body[half:], final=True),
        admin,
        ChunkAck,
    )
    assert final.status == "COMPLETED"
    assert (final.counts.accepted, final.counts.rejected) == (2, 5)
    with pytest.raises(Invalid):
        await ingest.call(
            "start_import",
            StartImportRequest(dataset_id=dataset.id, content_type="text/csv"),
            admin,
        )


async def test_malformed_body_fails_the_import_and_keeps_committed_rows(ingest: Ingest) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    good = {"row_data": load_fixture("labelbox/v1_video.json"), "global_key": "vid-ok"}
    body = json.dumps([good]).encode()[:-1] + b' , {"open": '  # never closed
    report = await ingest.import_body(admin, dataset.id, body, JSON, chunk_size=64)
    assert report.status == "FAILED"
    assert "closing ']'" in (report.failure or "")
    assert report.counts.accepted == 1
    events = await ingest.store.read_stream(f"import-{report.import_id}")
    assert events[-1].event_type == "ImportFailed"


async def test_an_import_whose_instance_is_gone_reads_as_failed_at_once(ingest: Ingest) -> None:
    """The session lives in the instance that started it. When that instance is gone (here:
    the import names an instance nobody runs), asking for the import says FAILED at once,
    not after the 15-minute idle timeout; a live owner keeps it RUNNING."""
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    started = await ingest.start_import(admin, dataset.id, NDJSON)
    ask = GetImportRequest(import_id=started.import_id)
    assert (await ingest.call("get_import", ask, admin, ImportView)).status == "RUNNING"
    await ingest.pool.execute(
        "update ingest.imports set owner = 'gone0000' where import_id = $1::uuid", started.import_id
    )
    view = await ingest.call("get_import", ask, admin, ImportView)
    assert (view.status, view.failure) == (
        "FAILED",
        "the service instance holding the import stopped",
    )
    failed = await ingest.store.read_stream(f"import-{started.import_id}")
    assert [r.event_type for r in failed] == ["ImportStarted", "ImportFailed"]


async def test_text_with_a_nul_refuses_that_row_and_lands_the_others(ingest: Ingest) -> None:
    """Postgres stores no U+0000: the row holding one is refused naming the field, in a
    batch call and in a streamed file alike, and the rows beside it land."""
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    good = {"row_data": load_fixture("labelbox/v1_image.json"), "global_key": "nul-ok"}
    shopping = load_fixture("labelbox/v1_shopping.json")
    shopping["messages"][0]["content"] = "a\u0000b"
    bad = {"row_data": shopping, "global_key": "nul-bad"}
    keyed = {"row_data": load_fixture("labelbox/v1_image.json"), "global_key": "k\u0000"}
    result = await ingest.call(
        "import_rows",
        ImportRowsRequest(dataset_id=dataset.id, rows=[good, bad, keyed]),
        admin,
        ImportResult,
    )
    assert (result.accepted, result.rejected) == (1, 2)
    assert [(e.index, e.code, e.path, e.global_key) for e in result.errors] == [
        (1, "INVALID_VALUE", "row_data.messages[0].content", "nul-bad"),
        (2, "INVALID_VALUE", "global_key", None),
    ]
    streamed = {"row_data": load_fixture("labelbox/v1_audio.json"), "global_key": "nul-ok-2"}
    body = "\n".join(json.dumps(r) for r in (streamed, bad)).encode()
    report = await ingest.import_body(admin, dataset.id, body, NDJSON, chunk_size=1000)
    assert (report.counts.accepted, report.counts.rejected) == (1, 1)
    assert [(e.line, e.code, e.path) for e in report.errors] == [
        (2, "INVALID_VALUE", "row_data.messages[0].content")
    ]
    # Anywhere else in a request, the request is refused whole.
    with pytest.raises(Invalid) as refused:
        await ingest.call("create_dataset", CreateDatasetRequest(name="a\u0000"), admin)
    assert refused.value.fields == {"name": "must not contain the NUL character (U+0000)"}
