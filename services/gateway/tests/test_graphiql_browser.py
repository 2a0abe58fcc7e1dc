"""GraphiQL at GET /graphql in headless Chromium: served from the installation (no request
leaves localhost, none fails), the token comes in through the URL fragment, and a query
typed into the editor returns the service's data."""

from __future__ import annotations

import json
from urllib.parse import urlsplit

import pytest

from preflog_gateway.graphiql import STATIC_DIR, assets_present

from .conftest import Server
from .devtools import CHROMIUM, chromium_page
from .flows import import_rows, new_dataset, shopping_row

QUERY = "{ viewer { email orgRole } datasets { name dataRowCount } }"
EDITOR = "document.querySelector('.graphiql-query-editor .CodeMirror')"
RESULT = "document.querySelector('.graphiql-response .CodeMirror')"


def _skip_reason() -> str | None:
    if not CHROMIUM.exists():
        return f"no {CHROMIUM} (.ci/install-system installs Debian's chromium with apt-get)"
    if not assets_present():
        return f"GraphiQL assets not vendored into {STATIC_DIR} (make -C services/gateway graphiql)"
    return None


pytestmark = pytest.mark.skipif(_skip_reason() is not None, reason=_skip_reason() or "")


async def test_graphiql_runs_a_typed_query_in_chromium(system: Server) -> None:
    dataset_id = await new_dataset(system, "browser-ds")
    await import_rows(system, dataset_id, [shopping_row("browser-1"), shopping_row("browser-2")])

    async with chromium_page() as page:
        await page.send("Page.navigate", url=f"{system.url}/graphql#token={system.admin_token}")
        await page.wait_for(f"!!({EDITOR} && document.querySelector('.graphiql-execute-button'))")
        # The token moved from the address bar into the headers editor.
        assert await page.evaluate("window.location.hash") == ""
        headers = await page.evaluate(
            "document.querySelector('.graphiql-editor-tool .CodeMirror') &&"
            " Array.from(document.querySelectorAll('.graphiql-editor-tool .CodeMirror'))"
            ".map(e => e.CodeMirror.getValue()).join('\\n')"
        )
        assert system.admin_token in headers

        await page.evaluate(f"{EDITOR}.CodeMirror.setValue({json.dumps(QUERY)})")
        await page.evaluate("document.querySelector('.graphiql-execute-button').click()")
        text = await page.wait_for(
            f"{RESULT} && {RESULT}.CodeMirror.getValue().includes('dataRowCount')"
            f" && {RESULT}.CodeMirror.getValue()"
        )
        result = json.loads(text)
        assert "errors" not in result, result
        assert result["data"]["viewer"]["orgRole"] == "ADMIN"
        assert {"name": "browser-ds", "dataRowCount": 2} in result["data"]["datasets"]

        requests = [r["request"]["url"] for r in page.of("Network.requestWillBeSent")]
        assert any(u.endswith("/graphiql-assets/graphiql.min.js") for u in requests)
        for url in requests:
            parts = urlsplit(url)
            assert parts.scheme == "data" or parts.hostname in ("127.0.0.1", "localhost"), url
        failed = page.of("Network.loadingFailed")
        assert failed == [], failed
        statuses = [
            (r["response"]["url"], r["response"]["status"])
            for r in page.of("Network.responseReceived")
        ]
        assert all(status < 400 for _, status in statuses), statuses
        assert page.of("Runtime.exceptionThrown") == []
