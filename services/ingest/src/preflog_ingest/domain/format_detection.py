"""Which input format one decoded JSON value is in.

Rules, in order: an object with ``row_data`` is a Labelbox import-file row; an object
with ``"shebang": "dataloop"`` is a Dataloop item; otherwise the ``type`` field decides
(Labelbox conversational v1, Labelbox model-chat-evaluation v2, our native row), and
``version`` must match that type. Anything else is UNKNOWN_FORMAT.
"""

from __future__ import annotations

from typing import Any, Literal

from preflog_contracts.text import shown
from preflog_ingest.domain.labelbox_v1 import V1_TYPE
from preflog_ingest.domain.labelbox_v2 import V2_TYPE
from preflog_ingest.domain.native_row import NATIVE_TYPE
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError

DetectedFormat = Literal["import_row", "labelbox_v1", "labelbox_v2", "dataloop", "native"]

_VERSIONED: dict[str, tuple[DetectedFormat, int]] = {
    V1_TYPE: ("labelbox_v1", 1),
    V2_TYPE: ("labelbox_v2", 2),
    NATIVE_TYPE: ("native", 1),
}


def detect_format(value: Any) -> DetectedFormat | RowError:
    """The format of ``value``, or the error that says why none fits. Only the
    discriminating fields are looked at; the format's own parser validates the rest."""
    if not isinstance(value, dict):
        return RowError(
            code=IngestErrorCode.WRONG_TYPE,
            path="",
            message=f"a row must be a JSON object, got {_json_type(value)}",
        )
    if "row_data" in value:
        return "import_row"
    if "shebang" in value:
        if value["shebang"] == "dataloop":
            return "dataloop"
        return RowError(
            code=IngestErrorCode.UNKNOWN_FORMAT,
            path="shebang",
            message=f"unknown shebang {shown(value['shebang'])}; expected 'dataloop'",
        )
    row_type = value.get("type")
    if row_type is None:
        return RowError(
            code=IngestErrorCode.UNKNOWN_FORMAT,
            path="",
            message="not a known row format: expected an import row (row_data), a Labelbox "
            "conversation (type), a Dataloop prompt item (shebang) or a native row (type)",
        )
    if not isinstance(row_type, str):
        return RowError(
            code=IngestErrorCode.WRONG_TYPE,
            path="type",
            message=f"Expected `str`, got {_json_type(row_type)}",
        )
    if row_type not in _VERSIONED:
        return RowError(
            code=IngestErrorCode.WRONG_TYPE,
            path="type",
            message=f"data type {shown(row_type)} is not supported; expected one of "
            + ", ".join(sorted(_VERSIONED)),
        )
    detected, version = _VERSIONED[row_type]
    found = value.get("version")
    if found is None:
        return RowError(
            code=IngestErrorCode.MISSING_FIELD,
            path="version",
            message="required field `version` is missing",
        )
    if type(found) is not int or found != version:
        return RowError(
            code=IngestErrorCode.WRONG_VERSION,
            path="version",
            message=(
                f"version {shown(found)} is not supported for {shown(row_type)}; expected {version}"
            ),
        )
    return detected


def _json_type(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "boolean"
    if isinstance(value, int | float):
        return "number"
    if isinstance(value, str):
        return "string"
    if isinstance(value, list):
        return "array"
    return "object"
