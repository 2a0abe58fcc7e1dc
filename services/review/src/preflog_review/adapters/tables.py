"""Names of the review read-model tables: the live ones, or a shadow set for a rebuild."""

from __future__ import annotations

from dataclasses import dataclass

NAMES = (
    "projects",
    "members",
    "data_rows",
    "tasks",
    "labels",
    "reference_labels",
    "reviews",
    "issues",
    "pair_counts",
    "agreement_sums",
    "agreement_deltas",
    "unscored_tasks",
)


@dataclass(frozen=True)
class Tables:
    """Qualified table names; every read-model query formats these in, never literals."""

    suffix: str = ""

    def __getattr__(self, name: str) -> str:
        if name in NAMES:
            return f'review."{name}{self.suffix}"'
        raise AttributeError(name)

    def all(self) -> list[str]:
        return [getattr(self, n) for n in NAMES]


LIVE = Tables()
