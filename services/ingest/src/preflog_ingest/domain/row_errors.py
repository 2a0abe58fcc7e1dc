"""Row-level validation errors: a stable code, the field path inside the row, a message.

Every parser in this package reports problems as :class:`RowError` values instead of
raising, so a streaming importer can keep the good rows and report each bad one.
"""

from __future__ import annotations

import re
from enum import StrEnum

import msgspec

from preflog_contracts.errors import Invalid


class IngestErrorCode(StrEnum):
    INVALID_JSON = "INVALID_JSON"
    UNKNOWN_FORMAT = "UNKNOWN_FORMAT"
    WRONG_VERSION = "WRONG_VERSION"
    WRONG_TYPE = "WRONG_TYPE"
    MISSING_FIELD = "MISSING_FIELD"
    UNKNOWN_FIELD = "UNKNOWN_FIELD"
    INVALID_VALUE = "INVALID_VALUE"
    TOO_MANY_MESSAGES = "TOO_MANY_MESSAGES"
    MESSAGE_TOO_LONG = "MESSAGE_TOO_LONG"
    NO_MESSAGES = "NO_MESSAGES"
    NO_MODEL_OUTPUTS = "NO_MODEL_OUTPUTS"
    NO_PROMPTS = "NO_PROMPTS"
    DUPLICATE_MESSAGE_ID = "DUPLICATE_MESSAGE_ID"
    DUPLICATE_PROMPT_ID = "DUPLICATE_PROMPT_ID"
    DUPLICATE_RESPONSE_ID = "DUPLICATE_RESPONSE_ID"
    DUPLICATE_GLOBAL_KEY = "DUPLICATE_GLOBAL_KEY"
    UNKNOWN_MESSAGE = "UNKNOWN_MESSAGE"
    UNKNOWN_ACTOR = "UNKNOWN_ACTOR"
    UNKNOWN_PROMPT = "UNKNOWN_PROMPT"
    UNKNOWN_RESPONSE = "UNKNOWN_RESPONSE"
    BROKEN_TREE = "BROKEN_TREE"
    UNSUPPORTED_MIMETYPE = "UNSUPPORTED_MIMETYPE"
    UNSUPPORTED_CONTENT = "UNSUPPORTED_CONTENT"
    BAD_URL = "BAD_URL"
    BLOCKED_ADDRESS = "BLOCKED_ADDRESS"
    UNKNOWN_QUESTION = "UNKNOWN_QUESTION"
    UNKNOWN_OPTION = "UNKNOWN_OPTION"
    DUPLICATE_OPTION = "DUPLICATE_OPTION"
    WRONG_KIND = "WRONG_KIND"
    WRONG_SCOPE = "WRONG_SCOPE"
    INVALID_RANKING = "INVALID_RANKING"
    ROW_TOO_LARGE = "ROW_TOO_LARGE"
    FETCH_FAILED = "FETCH_FAILED"
    RESPONSE_TOO_LARGE = "RESPONSE_TOO_LARGE"
    TOO_MANY_REDIRECTS = "TOO_MANY_REDIRECTS"
    UNKNOWN_DATA_ROW = "UNKNOWN_DATA_ROW"


class RowError(msgspec.Struct, frozen=True, kw_only=True):
    """One problem in one row. ``path`` is relative to the row as received
    (``messages[2].content``, ``row_data.modelOutputs``); ``""`` means the row itself."""

    code: IngestErrorCode
    path: str
    message: str

    def within(self, prefix: str) -> RowError:
        """The same error seen from an enclosing object (``row_data`` of an import row)."""
        return msgspec.structs.replace(self, path=join_path(prefix, self.path))


def join_path(prefix: str, path: str) -> str:
    """Join two field paths: ``join_path("row_data", "messages[0]") == "row_data.messages[0]"``."""
    if not prefix:
        return path
    if not path:
        return prefix
    return prefix + path if path.startswith("[") else f"{prefix}.{path}"


def key_path(prefix: str, key: str) -> str:
    """Path of a mapping entry; keys that are not plain identifiers are quoted."""
    if re.fullmatch(r"[A-Za-z_][A-Za-z0-9_-]*", key):
        return join_path(prefix, key)
    return f"{prefix}[{msgspec.json.encode(key).decode()}]"


_AT = re.compile(r"^(?P<what>.*?)(?: - at `\$(?P<path>[^`]*)`)?$", re.DOTALL)
_MISSING = re.compile(r"^Object missing required field `(?P<field>[^`]+)`$")
_UNKNOWN = re.compile(r"^Object contains unknown field `(?P<field>[^`]+)`$")


def errors_from_validation(exc: msgspec.ValidationError, prefix: str = "") -> list[RowError]:
    """Turn msgspec's validation message into a :class:`RowError` with a field path.

    msgspec reports one problem as ``"<what> - at `$.a[0].b`"``; a missing field is
    reported at its parent object, so its name is appended to the path (likewise an
    unknown field where the format forbids them).
    """
    match = _AT.match(str(exc))
    what = match.group("what") if match else str(exc)
    raw_path = (match.group("path") if match else None) or ""
    path = join_path(prefix, raw_path.removeprefix("."))
    missing = _MISSING.match(what)
    if missing:
        field = missing.group("field")
        return [
            RowError(
                code=IngestErrorCode.MISSING_FIELD,
                path=join_path(path, field),
                message=f"required field `{field}` is missing",
            )
        ]
    unknown = _UNKNOWN.match(what)
    if unknown:
        field = unknown.group("field")
        return [
            RowError(
                code=IngestErrorCode.UNKNOWN_FIELD,
                path=join_path(path, field),
                message=f"field `{field}` is not part of this format",
            )
        ]
    code = (
        IngestErrorCode.WRONG_TYPE
        if what.startswith("Expected `")
        else IngestErrorCode.INVALID_VALUE
    )
    return [RowError(code=code, path=path, message=what)]


def as_invalid(errors: list[RowError], message: str = "the row is not valid") -> Invalid:
    """The client-facing error for a refused row (GraphQL ``INVALID_INPUT`` with ``fields``)."""
    fields: dict[str, str] = {}
    for error in errors:
        fields.setdefault(error.path or "$", f"{error.code}: {error.message}")
    return Invalid(message, fields)
