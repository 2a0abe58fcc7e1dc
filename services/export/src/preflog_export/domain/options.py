"""What a caller may choose about an export, validated once before streaming starts."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal, cast, get_args

import msgspec

from preflog_contracts.errors import Invalid
from preflog_export.domain.item import LABEL_STATUSES

PairStrategy = Literal["best_vs_rest", "all_pairs", "best_vs_worst"]
PAIR_STRATEGIES: tuple[str, ...] = get_args(PairStrategy)


class ExportOptions(msgspec.Struct, frozen=True, kw_only=True):
    """Options every item format reads.

    ``label_statuses``: only labels with one of these statuses are exported or aggregated
    (the API's ``status`` filter: APPROVED by default). ``models``: when set, responses of
    other ``model_config_name`` are left out before pairs are formed, so every pair
    compares two of these models.
    """

    pair_strategy: PairStrategy = "best_vs_rest"
    label_statuses: frozenset[str] = frozenset({"APPROVED"})
    models: frozenset[str] | None = None


def export_options(
    *,
    pair_strategy: str = "best_vs_rest",
    status: str = "APPROVED",
    models: Iterable[str] | None = None,
) -> ExportOptions:
    """Options from API parameters. ``status`` is APPROVED, SUBMITTED (submitted or later:
    SUBMITTED and APPROVED), REJECTED or ALL. Raises :class:`Invalid` naming the valid values."""
    if pair_strategy not in PAIR_STRATEGIES:
        raise Invalid(
            f"unknown pair strategy {pair_strategy!r}",
            {"pair_strategy": "one of " + ", ".join(PAIR_STRATEGIES)},
        )
    statuses = _STATUS_FILTERS.get(status.upper())
    if statuses is None:
        raise Invalid(
            f"unknown status filter {status!r}",
            {"status": "one of " + ", ".join(_STATUS_FILTERS)},
        )
    return ExportOptions(
        pair_strategy=cast(PairStrategy, pair_strategy),
        label_statuses=statuses,
        models=frozenset(models) if models is not None else None,
    )


_STATUS_FILTERS: dict[str, frozenset[str]] = {
    "APPROVED": frozenset({"APPROVED"}),
    "SUBMITTED": frozenset({"SUBMITTED", "APPROVED"}),
    "REJECTED": frozenset({"REJECTED"}),
    "ALL": LABEL_STATUSES,
}
