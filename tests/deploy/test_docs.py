"""docs/scaling.md and ADR 0008 say what the deployment does."""

from __future__ import annotations

import re
from pathlib import Path

import pytest

REPO_ROOT = Path(__file__).resolve().parents[2]
SCALING = (REPO_ROOT / "docs" / "scaling.md").read_text()


@pytest.mark.parametrize(
    "topic",
    [
        "queue group",
        "durable",
        "stream hash",
        "partitioning by time",
        "partitioning by org",
        "Citus",
        "org_id",
        "read replica",
        "advisory lock",
    ],
)
def test_scaling_note_covers(topic: str) -> None:
    assert topic.lower() in SCALING.lower()


def test_measured_capacity_section_points_at_make_bench() -> None:
    match = re.search(r"^## Measured capacity\n(.*?)(?=^## |\Z)", SCALING, re.S | re.M)
    assert match, "docs/scaling.md needs a '## Measured capacity' section"
    assert "make bench" in match[1]


def test_links_in_the_docs_resolve() -> None:
    for doc in (
        REPO_ROOT / "docs" / "scaling.md",
        REPO_ROOT / "docs" / "adr" / "0008-deployment.md",
    ):
        for target in re.findall(r"\]\(([^)#:]+)\)", doc.read_text()):
            assert (doc.parent / target).exists(), f"{doc.name}: {target}"
