"""Labelbox import-file rows: ``{row_data, global_key, external_id?, media_type?,
metadata_fields?, attachments?}``.

``row_data`` is either an inline row in any other format, or a URL to fetch. A URL is
judged by the static part of the URL policy here (scheme, literal addresses, forbidden
names); the fetch itself, with the resolved-address check, belongs to the service.
``metadata_fields`` become the row's metadata, keyed by ``name`` (else ``schema_id``).
"""

from __future__ import annotations

from typing import Any

import msgspec

from preflog_ingest.domain.limits import Limits
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError, errors_from_validation
from preflog_ingest.domain.url_policy import check_url


class MetadataField(msgspec.Struct, frozen=True):
    value: Any
    name: str | None = None
    schema_id: str | None = None


class Attachment(msgspec.Struct, frozen=True, omit_defaults=True):
    type: str
    value: str
    name: str | None = None


class ImportRow(msgspec.Struct, frozen=True):
    row_data: dict[str, Any] | str
    global_key: str | None = None
    external_id: str | None = None
    media_type: str | None = None
    metadata_fields: list[MetadataField] = msgspec.field(default_factory=list)
    attachments: list[Attachment] = msgspec.field(default_factory=list)


class ImportFields(msgspec.Struct, frozen=True, kw_only=True):
    """The import row's own fields, ready to merge into the parsed row."""

    global_key: str | None
    external_id: str | None
    media_type: str | None
    metadata: dict[str, Any]
    attachments: list[dict[str, Any]]


def decode_import_row(value: dict[str, Any]) -> tuple[ImportRow, ImportFields] | list[RowError]:
    """Validate the wrapper fields of an import row (not the inline ``row_data``)."""
    try:
        row = msgspec.convert(value, ImportRow, strict=True)
    except msgspec.ValidationError as exc:
        return errors_from_validation(exc)
    errors: list[RowError] = []
    metadata: dict[str, Any] = {}
    for i, field in enumerate(row.metadata_fields):
        key = field.name or field.schema_id
        if not key:
            errors.append(
                RowError(
                    code=IngestErrorCode.MISSING_FIELD,
                    path=f"metadata_fields[{i}].name",
                    message="a metadata field needs a name or a schema_id",
                )
            )
        else:
            metadata[key] = field.value
    if row.global_key is not None and not row.global_key.strip():
        errors.append(
            RowError(
                code=IngestErrorCode.INVALID_VALUE,
                path="global_key",
                message="global_key must not be blank",
            )
        )
    if errors:
        return errors
    fields = ImportFields(
        global_key=row.global_key,
        external_id=row.external_id,
        media_type=row.media_type,
        metadata=metadata,
        attachments=[msgspec.to_builtins(a) for a in row.attachments],
    )
    return row, fields


def row_data_url_error(url: str, limits: Limits) -> RowError | None:
    """Why a ``row_data`` URL is refused before any network access, or None."""
    error = check_url(url, (), limits.url_allow_hosts)
    return None if error is None else error.within("row_data")
