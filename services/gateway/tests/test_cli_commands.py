"""The ``preflog`` parser reaches the import, export and demo commands (their behaviour is
tested where they live: ingest's and export's CLI tests, and ``test_demo.py``)."""

from __future__ import annotations

from preflog_cli import export_command, import_command
from preflog_cli.main import parser


def test_import_and_export_subcommands_dispatch_to_their_modules() -> None:
    args = parser().parse_args(["import", "rows.ndjson", "--dataset", "d"])
    assert args.run is import_command.run and args.dataset == "d"
    args = parser().parse_args(["export", "--project", "p", "--format", "dpo", "--follow"])
    assert args.run is export_command.run_export and args.follow and args.format == "dpo"


def test_demo_subcommand_parses() -> None:
    args = parser().parse_args(["demo"])
    assert args.command == "demo" and not hasattr(args, "run")
