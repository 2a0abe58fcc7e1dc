"""``preflog import FILE --dataset NAME``: stream a file into a dataset with a progress bar.

It talks to the ingest service directly over NATS, exactly like the gateway's bulk endpoint
(start_import, then sequential import_chunk calls), as an operator tool: it needs the
installation's settings (``PREFLOG_DATABASE_URL``, ``PREFLOG_NATS_URL``,
``PREFLOG_INTERNAL_SECRET``) and acts as the user named by ``--user`` (default: the
bootstrap admin), found in the event log. The dataset is created when the org has none of
that name (which needs an org admin). Exit code: 0 when every row landed (duplicates of
rows imported earlier are reported, not refused), 1 when any row was refused or the import
failed, 2 when it could not start.
"""

from __future__ import annotations

import argparse
import asyncio
from pathlib import Path

import asyncpg
from rich.console import Console
from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

from preflog_cli import infra
from preflog_contracts.errors import PreflogError
from preflog_contracts.identity import Identity
from preflog_contracts.rpc.ingest import (
    JSON_TYPE,
    MAX_CHUNK_BYTES,
    ChunkAck,
    CreateDatasetRequest,
    DatasetView,
    GetImportRequest,
    ImportStartedView,
    ImportView,
    ListDatasetsRequest,
    StartImportRequest,
)
from preflog_ingest.client import send_file
from preflog_messaging import CallContext, RpcClient, connect
from preflog_settings import Settings, load_settings

SHOWN_ERRORS = 20


def add_import_parser(sub: argparse._SubParsersAction[argparse.ArgumentParser]) -> None:
    """Register ``import`` on the ``preflog`` parser; sets ``run`` (args -> exit code)."""
    p = sub.add_parser("import", help="import a file of data rows into a dataset")
    p.add_argument("file", type=Path, help="NDJSON (.ndjson/.jsonl) or JSON (array or one row)")
    p.add_argument("--dataset", required=True, help="dataset name (created if missing)")
    p.add_argument(
        "--user", default=None, help="act as this user's email (default: bootstrap admin)"
    )
    p.add_argument("--content-type", default=None, help="override the type guessed from the name")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    path: Path = args.file
    if not path.is_file():
        Console(stderr=True).print(f"[red]no such file: {path}[/red]")
        return 2
    args.size = path.stat().st_size
    return asyncio.run(run_import(load_settings(), args))


def content_type_for(path: Path) -> str:
    return "application/x-ndjson" if path.suffix.lower() in (".ndjson", ".jsonl") else JSON_TYPE


async def find_user(database_url: str, email: str) -> Identity:
    """The user with ``email`` as recorded by UserCreated (operator access to the log)."""
    conn = await asyncpg.connect(database_url)
    try:
        row = await conn.fetchrow(
            "select org_id::text, data->>'user_id', data->>'org_role' from eventlog.events"
            " where event_type = 'UserCreated' and data->>'email' = $1"
            " order by global_position limit 1",
            email,
        )
    finally:
        await conn.close()
    if row is None:
        raise SystemExit(f"no user with email {email}; run `preflog up` first or pass --user")
    return Identity(user_id=row[1], org_id=row[0], org_role=row[2] or "MEMBER", email=email)


async def run_import(settings: Settings, args: argparse.Namespace) -> int:
    console = Console(stderr=True)
    path: Path = args.file
    resolved = await infra.resolve(settings, allow_embedded=False)
    nc = None
    try:
        conf = resolved.settings
        identity = await find_user(conf.database_url, args.user or conf.bootstrap_admin_email)
        nc = await connect(conf.nats_url, name="preflog-import")
        rpc = RpcClient(
            nc,
            namespace=conf.namespace,
            secret=conf.internal_secret,
            timeout=conf.rpc_timeout_seconds,
        )
        ctx = CallContext(identity=identity, user_agent="preflog-cli")
        try:
            return await _import(console, rpc, ctx, path, args)
        except PreflogError as exc:
            console.print(f"[red]{exc.code.value}: {exc.message}[/red] {exc.fields or ''}")
            return 2
    finally:
        if nc is not None:
            await nc.close()
        resolved.close()


async def _import(
    console: Console, rpc: RpcClient, ctx: CallContext, path: Path, args: argparse.Namespace
) -> int:
    found = await rpc.call(
        "ingest",
        "list_datasets",
        ListDatasetsRequest(name=args.dataset),
        ctx=ctx,
        response_type=list[DatasetView],
    )
    dataset = (
        found[0]
        if found
        else await rpc.call(
            "ingest",
            "create_dataset",
            CreateDatasetRequest(name=args.dataset),
            ctx=ctx,
            response_type=DatasetView,
        )
    )
    content_type = args.content_type or content_type_for(path)
    started = await rpc.call(
        "ingest",
        "start_import",
        StartImportRequest(dataset_id=dataset.id, content_type=content_type),
        ctx=ctx,
        response_type=ImportStartedView,
    )
    size: int = args.size
    columns = (
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        TextColumn("{task.percentage:>3.0f}%"),
        TextColumn("{task.fields[rows]} rows  {task.fields[rate]} rows/s"),
        TextColumn("[red]{task.fields[refused]} refused[/red]"),
        TimeElapsedColumn(),
    )
    ack: ChunkAck | None = None
    with Progress(*columns, console=console) as progress:
        task = progress.add_task(path.name, total=size, rows=0, rate=0, refused=0)
        loop = asyncio.get_running_loop()
        began = loop.time()
        with path.open("rb") as body:
            chunk_bytes = started.max_chunk_bytes or MAX_CHUNK_BYTES
            async for ack, sent in send_file(rpc, ctx, started.import_id, body, chunk_bytes):
                elapsed = max(loop.time() - began, 1e-6)
                progress.update(
                    task,
                    advance=sent,
                    rows=ack.counts.received,
                    rate=int(ack.counts.received / elapsed),
                    refused=ack.counts.rejected,
                )
    report = await rpc.call(
        "ingest",
        "get_import",
        GetImportRequest(import_id=started.import_id, errors_limit=SHOWN_ERRORS),
        ctx=ctx,
        response_type=ImportView,
    )
    counts = report.counts
    console.print(
        f"import {report.import_id} into dataset '{dataset.name}': [bold]{report.status}[/bold]"
        f" — {counts.received} rows read, {counts.accepted} imported, {counts.rejected} refused,"
        f" {counts.duplicates} already present, {counts.fetched} fetched from URLs"
        f" in {report.seconds:.1f}s ({report.rows_per_second:.0f} rows/s)"
    )
    if report.failure:
        console.print(f"[red]failed: {report.failure}[/red]")
    for error in report.errors:
        where = f" at {error.path}" if error.path else ""
        key = f" ({error.global_key})" if error.global_key else ""
        console.print(f"  line {error.line}{key}: {error.code}{where}: {error.message}")
    if len(report.errors) == SHOWN_ERRORS:
        console.print(f"  ... more with get_import({report.import_id})")
    return 1 if report.status != "COMPLETED" or counts.rejected else 0
