"""The ``preflog`` parser reaches the import, export and demo commands (their behaviour is
tested where they live: ingest's and export's CLI tests, and ``test_demo.py``)."""

from __future__ import annotations

import pytest

from preflog_cli import export_command, import_command
from preflog_cli.main import parser
from preflog_contracts.errors import Invalid
from preflog_gateway.rest import export_request


def test_import_and_export_subcommands_dispatch_to_their_modules() -> None:
    args = parser().parse_args(["import", "rows.ndjson", "--dataset", "d"])
    assert args.run is import_command.run and args.dataset == "d"
    args = parser().parse_args(["export", "--project", "p", "--format", "dpo", "--follow"])
    assert args.run is export_command.run_export and args.follow and args.format == "dpo"


def test_demo_subcommand_parses() -> None:
    args = parser().parse_args(["demo"])
    assert args.command == "demo" and not hasattr(args, "run")


def test_every_export_option_of_the_cli_reaches_the_export_request() -> None:
    """What ``preflog export`` puts in the query string is what the gateway reads: its
    filters were sent under names the gateway dropped without a word."""
    args = parser().parse_args(
        [
            "export",
            "--project",
            "p",
            "--format",
            "dpo",
            "--status",
            "ALL",
            "--pair-strategy",
            "all_pairs",
            "--batch",
            "b-1",
            "--model",
            "gpt-4",
            "--model",
            "claude",
        ]
    )
    query = dict(export_command._params(args, "cursor-1").multi_items())
    req = export_request("p", query)
    assert (req.format, req.status, req.since, req.follow) == ("dpo", "ALL", "cursor-1", False)
    assert (req.pair_strategy, req.batch_id, req.models) == (
        "all_pairs",
        "b-1",
        ["gpt-4", "claude"],
    )


def test_an_unknown_export_parameter_is_refused_and_camel_case_is_understood() -> None:
    with pytest.raises(Invalid) as refused:
        export_request("p", {"format": "dpo", "model": "gpt-4"})
    assert set(refused.value.fields) == {"model"} and "models" in refused.value.fields["model"]
    req = export_request("p", {"format": "dpo", "pairStrategy": "best_vs_worst", "batchId": "b"})
    assert (req.pair_strategy, req.batch_id) == ("best_vs_worst", "b")
