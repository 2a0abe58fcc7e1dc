"""Format names and options from API parameters."""

from __future__ import annotations

import pytest

from preflog_contracts.errors import Invalid
from preflog_export.domain import (
    FORMAT_NAMES,
    ExportOptions,
    check_format,
    dpo_records,
    export_options,
    item_format,
)


def test_every_format_is_known() -> None:
    assert set(FORMAT_NAMES) == {
        "native",
        "labelbox",
        "dpo",
        "reward_ranking",
        "openai_preference",
        "hh",
        "audit",
    }
    assert item_format("dpo") is dpo_records
    assert check_format("audit") == "audit"


def test_unknown_format_lists_the_valid_ones() -> None:
    with pytest.raises(Invalid) as raised:
        item_format("csv")
    assert "dpo" in raised.value.fields["format"]
    assert "audit" in raised.value.fields["format"]
    with pytest.raises(Invalid):
        item_format("audit")


def test_options_from_api_parameters() -> None:
    assert export_options() == ExportOptions()
    options = export_options(pair_strategy="all_pairs", status="submitted", models=["a"])
    assert options.pair_strategy == "all_pairs"
    assert options.label_statuses == frozenset({"SUBMITTED", "APPROVED"})
    assert options.models == frozenset({"a"})
    assert export_options(status="ALL").label_statuses == frozenset(
        {"SUBMITTED", "APPROVED", "REJECTED"}
    )


@pytest.mark.parametrize(
    ("kwargs", "field"),
    [({"pair_strategy": "random"}, "pair_strategy"), ({"status": "DRAFT"}, "status")],
)
def test_bad_options_name_the_field(kwargs: dict[str, str], field: str) -> None:
    with pytest.raises(Invalid) as raised:
        export_options(**kwargs)
    assert set(raised.value.fields) == {field}
