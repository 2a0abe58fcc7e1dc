"""Datasets, data rows and imports (owned by ingest)."""

from __future__ import annotations

from typing import Any

import msgspec

from preflog_contracts.datarow import DataRow
from preflog_contracts.events.base import Event


class DatasetCreated(Event, frozen=True, kw_only=True):
    category = "dataset"
    dataset_id: str
    name: str
    description: str = ""


class DataRowImported(Event, frozen=True, kw_only=True):
    category = "datarow"
    data_row_id: str
    dataset_id: str
    global_key: str
    row: DataRow
    source_format: str  # labelbox_v1 | labelbox_v2 | dataloop | native
    external_id: str | None = None
    import_id: str | None = None
    metadata: dict[str, Any] = msgspec.field(default_factory=dict)
    attachments: list[dict[str, Any]] = msgspec.field(default_factory=list)
    original: Any = None  # the payload exactly as received


class DataRowImportRejected(Event, frozen=True, kw_only=True):
    category = "import"
    import_id: str
    line: int
    code: str
    message: str
    path: str = ""
    global_key: str | None = None


class ImportStarted(Event, frozen=True, kw_only=True):
    category = "import"
    import_id: str
    dataset_id: str
    content_type: str = ""


class ImportCompleted(Event, frozen=True, kw_only=True):
    category = "import"
    import_id: str
    dataset_id: str
    received: int = 0
    accepted: int = 0
    rejected: int = 0
    duplicates: int = 0  # rows whose global key an earlier import holds (reported, not imported)
    fetched: int = 0


class ImportFailed(Event, frozen=True, kw_only=True):
    category = "import"
    import_id: str
    dataset_id: str
    reason: str


class PreLabel(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    """One model-assisted answer, ranking or crown, already mapped onto the ontology."""

    kind: str  # answer | ranking | crown | selection (several responses chosen at a prompt)
    question_id: str | None = None
    value: Any = None
    message_id: str | None = None
    response_id: str | None = None
    prompt_id: str | None = None
    ranking: list[tuple[str, int]] | None = None
    confidence: float | None = None
    source: str = "mal"
    source_id: str | None = None  # the MAL line's uuid, to trace a pre-label to its input


class PreLabelsImported(Event, frozen=True, kw_only=True):
    category = "prelabels"
    project_id: str
    data_row_id: str
    prelabels: list[PreLabel]
    source: str = "labelbox_mal"
