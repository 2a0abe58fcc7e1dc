"""Shared fixture paths for the ingest domain tests."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

REPO_ROOT = Path(__file__).resolve().parents[4]
FIXTURES = (REPO_ROOT / "../shared/fixtures").resolve()


def load_fixture(relative: str) -> Any:
    return json.loads((FIXTURES / relative).read_text())


def fixture_bytes(relative: str) -> bytes:
    return (FIXTURES / relative).read_bytes()


@pytest.fixture
def fixtures_dir() -> Path:
    return FIXTURES
