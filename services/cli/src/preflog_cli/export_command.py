"""``preflog export``: stream a project's export to stdout through the gateway's REST endpoint.

    preflog export --project ID --format dpo [--follow] > pairs.jsonl

Talks to ``GET /v1/projects/{id}/export`` with a token (``--token`` or ``PREFLOG_TOKEN``),
shows progress on stderr, and writes records only once a cursor line confirms them: when
the connection drops it resumes from the last cursor, so the file gets every record exactly
once. Cursor lines are not written to the output.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from collections.abc import Iterable
from typing import IO, Any

import httpx

CURSOR_PREFIX = b'{"_cursor":'


class ConfirmedWriter:
    """Writes NDJSON records to ``out`` once a cursor line follows them; remembers the last
    cursor. Records after the last cursor of a cut stream are dropped (the resumed stream
    sends them again)."""

    def __init__(self, out: IO[bytes]) -> None:
        self.out = out
        self.cursor: str | None = None
        self.records = 0
        self._pending: list[bytes] = []
        self._partial = b""

    def feed(self, chunk: bytes) -> None:
        data = self._partial + chunk
        lines = data.split(b"\n")
        self._partial = lines.pop()  # an incomplete last line waits for the next chunk
        for line in lines:
            if not line.strip():
                continue
            if line.startswith(CURSOR_PREFIX):
                self.cursor = json.loads(line)["_cursor"]
                for record in self._pending:
                    self.out.write(record + b"\n")
                self.records += len(self._pending)
                self._pending.clear()
                self.out.flush()
            else:
                self._pending.append(line)

    def cut(self) -> None:
        """The connection dropped: forget what no cursor confirmed."""
        self._pending.clear()
        self._partial = b""


def add_export_parser(sub: Any) -> None:
    """Add the ``export`` subcommand to the ``preflog`` parser's subparsers."""
    p = sub.add_parser("export", help="stream a project's export (NDJSON) to stdout")
    p.add_argument("--project", required=True, help="project id")
    p.add_argument("--format", default="dpo", help="native, labelbox, dpo, reward_ranking, ...")
    p.add_argument("--status", default="APPROVED", help="APPROVED, SUBMITTED, REJECTED or ALL")
    p.add_argument("--follow", action="store_true", help="keep streaming new records")
    p.add_argument("--since", help="resume after this cursor")
    p.add_argument("--pair-strategy", default="best_vs_rest")
    p.add_argument("--batch", help="only this batch")
    p.add_argument("--model", action="append", help="only pairs between these models")
    p.add_argument("--url", default=os.environ.get("PREFLOG_URL", "http://127.0.0.1:8080"))
    p.add_argument("--token", default=os.environ.get("PREFLOG_TOKEN", ""))
    p.add_argument("--retries", type=int, default=5, help="reconnects after a dropped stream")
    p.set_defaults(run=run_export)


def _params(args: argparse.Namespace, cursor: str | None) -> httpx.QueryParams:
    params: list[tuple[str, str | int | float | bool | None]] = [
        ("format", args.format),
        ("status", args.status),
        ("pair_strategy", args.pair_strategy),
        ("follow", "true" if args.follow else "false"),
    ]
    if cursor:
        params.append(("since", cursor))
    if args.batch:
        params.append(("batch_id", args.batch))
    if args.model:
        params.append(("models", ",".join(args.model)))
    return httpx.QueryParams(params)


def _progress(writer: ConfirmedWriter, started: float, final: bool = False) -> None:
    rate = writer.records / max(time.monotonic() - started, 1e-6)
    end = "\n" if final else "\r"
    sys.stderr.write(f"exported {writer.records:,} records ({rate:,.0f}/s){end}")
    sys.stderr.flush()


def stream_into(
    writer: ConfirmedWriter, chunks: Iterable[bytes], started: float, every: float = 0.2
) -> None:
    """Feed ``chunks`` to ``writer``, redrawing progress at most every ``every`` seconds."""
    shown = 0.0
    for chunk in chunks:
        writer.feed(chunk)
        now = time.monotonic()
        if now - shown >= every:
            _progress(writer, started)
            shown = now


def run_export(args: argparse.Namespace) -> int:
    """Run ``preflog export``; returns the exit status (0 ok, 1 refused, 2 unreachable)."""
    writer = ConfirmedWriter(sys.stdout.buffer)
    writer.cursor = args.since
    headers = {"Authorization": f"Bearer {args.token}"} if args.token else {}
    url = f"{args.url.rstrip('/')}/v1/projects/{args.project}/export"
    started = time.monotonic()
    failures = 0
    with httpx.Client(timeout=httpx.Timeout(30.0, read=None)) as client:
        while True:
            try:
                with client.stream(
                    "GET",
                    url,
                    params=_params(args, writer.cursor),
                    headers=headers,
                ) as response:
                    if response.status_code != 200:
                        body = response.read()
                        try:
                            error = json.loads(body)
                            fields = error.get("fields") or {}
                            detail = "".join(f"\n  {k}: {v}" for k, v in fields.items())
                            sys.stderr.write(
                                f"{error.get('code')}: {error.get('message')}{detail}\n"
                            )
                        except ValueError:
                            sys.stderr.write(f"HTTP {response.status_code}\n")
                        return 1
                    stream_into(writer, response.iter_bytes(), started)
                _progress(writer, started, final=True)
                return 0
            except (httpx.TransportError, httpx.RemoteProtocolError) as exc:
                writer.cut()
                failures += 1
                if failures > args.retries:
                    sys.stderr.write(
                        f"\nstream lost ({exc!r}); resume with --since {writer.cursor}\n"
                    )
                    return 2
                sys.stderr.write(f"\nstream lost, resuming from the last cursor ({failures})\n")
                time.sleep(min(0.5 * failures, 5.0))
