"""``preflog import``: the same chunked path, a summary, and the exit code."""

from __future__ import annotations

import argparse
import io
from pathlib import Path

from rich.console import Console

from preflog_cli.import_command import _import
from preflog_messaging import CallContext

from .conftest import FIXTURES, Ingest, admin_of

SIZES = {
    p.name: p.stat().st_size
    for p in (FIXTURES / "labelbox/import_file_inline.json", FIXTURES / "invalid/mixed_rows.ndjson")
}


async def run_cli(ingest: Ingest, path: Path, ctx: CallContext, dataset: str) -> tuple[int, str]:
    out = io.StringIO()
    size = SIZES[path.name]
    args = argparse.Namespace(file=path, dataset=dataset, content_type=None, size=size)
    code = await _import(Console(file=out, width=200), ingest.rpc, ctx, path, args)
    return code, out.getvalue()


async def test_cli_import_creates_the_dataset_and_reports(ingest: Ingest) -> None:
    ctx = CallContext(identity=admin_of(), user_agent="preflog-cli")
    code, text = await run_cli(ingest, FIXTURES / "labelbox/import_file_inline.json", ctx, "cli")
    assert code == 0, text
    assert "COMPLETED" in text and "3 imported" in text
    # Again into the same dataset (found by name): all already present, still a success.
    code, text = await run_cli(ingest, FIXTURES / "labelbox/import_file_inline.json", ctx, "cli")
    assert code == 0 and "3 already present" in text
    code, text = await run_cli(ingest, FIXTURES / "invalid/mixed_rows.ndjson", ctx, "cli")
    assert code == 1
    assert "2 imported, 5 refused" in text
    assert "line 6 (ssrf-1): BLOCKED_ADDRESS at row_data" in text
