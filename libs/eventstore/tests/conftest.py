from __future__ import annotations

import uuid

import pytest

from preflog_contracts.envelope import Metadata
from preflog_contracts.events.catalog import DatasetCreated


def dataset_event(name: str = "d") -> DatasetCreated:
    return DatasetCreated(dataset_id=str(uuid.uuid4()), name=name)


@pytest.fixture
def org_id() -> str:
    return str(uuid.uuid4())


@pytest.fixture
def meta() -> Metadata:
    return Metadata(actor_id="u-1", actor_role="ADMIN", correlation_id="c-1")
