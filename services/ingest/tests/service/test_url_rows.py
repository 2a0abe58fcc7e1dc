"""Rows whose ``row_data`` is a URL: fetched from allowed hosts only, every hop checked."""

from __future__ import annotations

import json

from .conftest import FixtureServer, Ingest, Listener, admin_of, fixture_bytes

NDJSON = "application/x-ndjson"
JSON = "application/json"


async def test_import_file_of_urls_from_a_local_server(
    ingest: Ingest, fixture_server: FixtureServer
) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    body = fixture_bytes("labelbox/import_file_urls.template.json").replace(
        b"${BASE_URL}", fixture_server.base_url.encode()
    )
    report = await ingest.import_body(admin, dataset.id, body, JSON)
    assert report.status == "COMPLETED", report
    assert (report.counts.accepted, report.counts.fetched, report.errors) == (3, 3, [])
    assert sorted(fixture_server.paths) == sorted(
        ["/labelbox/v1_shopping.json", "/labelbox/v1_video.json", "/labelbox/v1_audio.json"]
    )
    # The fetched document and the import row are both kept as the original payload.
    events = await ingest.pool.fetch(
        "select data from eventlog.events e join ingest.global_keys g"
        " on e.stream_name = 'datarow-' || g.data_row_id::text"
        " where g.org_id = $1 and g.global_key = 'video-url-1'",
        admin.org_id,
    )
    original = json.loads(events[0]["data"])["original"]
    assert original["import_row"]["global_key"] == "video-url-1"
    assert original["fetched"]["type"] == "application/vnd.labelbox.conversational"


async def test_forbidden_addresses_get_no_request(
    strict_ingest: Ingest, fixture_server: FixtureServer, listener: Listener
) -> None:
    """Production rules (no allow list): the mixed fixture plus URLs that would reach a live
    listener on loopback, by literal address, by name and through an allowed-looking
    redirect. The good rows land; the listener sees no connection at all."""
    admin = admin_of()
    dataset = await strict_ingest.dataset(admin)
    target = f"http://127.0.0.1:{listener.port}/latest/meta-data/"
    extra = [
        {"row_data": target, "global_key": "loopback-literal"},
        {"row_data": f"http://localhost:{listener.port}/x", "global_key": "loopback-name"},
        {"row_data": f"http://2130706433:{listener.port}/x", "global_key": "loopback-decimal"},
        {"row_data": f"http://[::ffff:127.0.0.1]:{listener.port}/x", "global_key": "mapped"},
    ]
    body = fixture_bytes("invalid/mixed_rows.ndjson") + b"".join(
        json.dumps(row).encode() + b"\n" for row in extra
    )
    report = await strict_ingest.import_body(admin, dataset.id, body, NDJSON)
    assert report.counts.accepted == 2
    refused = {e.global_key: e.code for e in report.errors if e.line > 7}
    assert refused == {
        "loopback-literal": "BLOCKED_ADDRESS",
        "loopback-name": "BLOCKED_ADDRESS",
        "loopback-decimal": "BLOCKED_ADDRESS",
        "mapped": "BLOCKED_ADDRESS",
    }
    assert listener.connections() == 0
    assert fixture_server.paths == []


async def test_redirect_to_a_forbidden_address_is_refused(
    ingest: Ingest, fixture_server: FixtureServer
) -> None:
    """127.0.0.1 is allowed in tests; a redirect from it to another loopback address that is
    not on the allow list is checked again and refused before any connection."""
    import socket

    trap = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    trap.bind(("127.0.0.2", 0))
    trap.listen(4)
    trap.setblocking(False)
    port = trap.getsockname()[1]
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    rows = [
        {
            "row_data": f"{fixture_server.base_url}/redirect?to=http://127.0.0.2:{port}/x",
            "global_key": "redirected",
        },
        {
            "row_data": f"{fixture_server.base_url}/redirect?to=file:///etc/passwd",
            "global_key": "to-file",
        },
        {
            "row_data": f"{fixture_server.base_url}/redirect?to={fixture_server.base_url}"
            "/labelbox/v1_image.json",
            "global_key": "allowed-hop",
        },
    ]
    report = await ingest.import_body(admin, dataset.id, json.dumps(rows).encode(), JSON)
    codes = {e.global_key: (e.code, e.path) for e in report.errors}
    assert codes == {
        "redirected": ("BLOCKED_ADDRESS", "row_data"),
        "to-file": ("BAD_URL", "row_data"),
    }
    assert report.counts.accepted == 1
    try:
        trap.accept()
        connected = True
    except BlockingIOError:
        connected = False
    trap.close()
    assert not connected


async def test_http_errors_and_bodies_that_are_not_rows(
    ingest: Ingest, fixture_server: FixtureServer
) -> None:
    admin = admin_of()
    dataset = await ingest.dataset(admin)
    rows = [
        {"row_data": f"{fixture_server.base_url}/big", "global_key": "big"},
        {"row_data": f"{fixture_server.base_url}/missing.json", "global_key": "missing"},
        {"row_data": f"{fixture_server.base_url}/README.md", "global_key": "not-json"},
    ]
    report = await ingest.import_body(admin, dataset.id, json.dumps(rows).encode(), JSON)
    codes = {e.global_key: e.code for e in report.errors}
    assert codes["missing"] == "FETCH_FAILED"
    assert codes["not-json"] == "INVALID_JSON"
    # /big is a JSON object that is not a row: fetched (under the default 5 MiB cap) and refused.
    assert codes["big"] in ("UNKNOWN_FORMAT", "MISSING_FIELD", "WRONG_TYPE")


async def test_documents_past_the_size_cap_are_cut_off(fixture_server: FixtureServer) -> None:
    """The fetcher stops reading past its cap (64 KiB here; the server's /big is 256 KiB)."""
    from preflog_ingest.adapters.url_fetcher import FetchRefused, UrlFetcher

    fetcher = UrlFetcher(
        allow_hosts={"127.0.0.1"}, concurrency=2, timeout_seconds=5, max_bytes=64 * 1024
    )
    try:
        try:
            await fetcher.fetch(f"{fixture_server.base_url}/big")
            raise AssertionError("the cap was not applied")
        except FetchRefused as refused:
            assert refused.error.code == "RESPONSE_TOO_LARGE"
        small = await fetcher.fetch(f"{fixture_server.base_url}/labelbox/v1_image.json")
        assert json.loads(small)["type"] == "application/vnd.labelbox.conversational"
    finally:
        await fetcher.close()
