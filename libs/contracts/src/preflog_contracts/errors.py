"""The one error hierarchy. Every layer raises these; the edges map ``code`` to
GraphQL ``extensions.code`` and HTTP statuses."""

from __future__ import annotations

from enum import StrEnum
from typing import ClassVar


class ErrorCode(StrEnum):
    UNAUTHENTICATED = "UNAUTHENTICATED"
    FORBIDDEN = "FORBIDDEN"
    NOT_FOUND = "NOT_FOUND"
    INVALID_INPUT = "INVALID_INPUT"
    CONFLICT = "CONFLICT"
    UNAVAILABLE = "UNAVAILABLE"
    RATE_LIMITED = "RATE_LIMITED"
    INTERNAL = "INTERNAL"


HTTP_STATUS: dict[ErrorCode, int] = {
    ErrorCode.UNAUTHENTICATED: 401,
    ErrorCode.FORBIDDEN: 403,
    ErrorCode.NOT_FOUND: 404,
    ErrorCode.INVALID_INPUT: 400,
    ErrorCode.CONFLICT: 409,
    ErrorCode.UNAVAILABLE: 503,
    ErrorCode.RATE_LIMITED: 429,
    ErrorCode.INTERNAL: 500,
}


class PreflogError(Exception):
    """Base of every error a client may see. ``message`` must be safe to show."""

    code: ClassVar[ErrorCode] = ErrorCode.INTERNAL

    def __init__(self, message: str = "", fields: dict[str, str] | None = None) -> None:
        super().__init__(message or self.code.value)
        # Capped, as a last resort against echoing a huge input back (call sites quote
        # values with ``text.shown``).
        self.message = _capped(message or self.code.value.replace("_", " ").lower(), 1_000)
        self.fields = {_capped(k, 300): _capped(str(v), 1_000) for k, v in (fields or {}).items()}

    @staticmethod
    def from_code(code: str, message: str, fields: dict[str, str] | None = None) -> PreflogError:
        cls = _BY_CODE.get(ErrorCode(code), Internal) if code in ErrorCode.__members__ else Internal
        return cls(message, fields)


def _capped(text: str, limit: int) -> str:
    return text if len(text) <= limit else f"{text[: limit - 40]}... ({len(text):,} characters)"


class Unauthenticated(PreflogError):
    code = ErrorCode.UNAUTHENTICATED


class Forbidden(PreflogError):
    code = ErrorCode.FORBIDDEN


class NotFound(PreflogError):
    code = ErrorCode.NOT_FOUND


class Invalid(PreflogError):
    """Bad input. ``fields`` maps a path (``rows[3].messages[0].content``) to a message."""

    code = ErrorCode.INVALID_INPUT


class Conflict(PreflogError):
    """A concurrent change won; the client may safely retry."""

    code = ErrorCode.CONFLICT


class WrongExpectedVersion(Conflict):
    """An append found its stream at another version than expected."""


class Unavailable(PreflogError):
    code = ErrorCode.UNAVAILABLE


class RateLimited(PreflogError):
    code = ErrorCode.RATE_LIMITED


class Internal(PreflogError):
    code = ErrorCode.INTERNAL


_BY_CODE: dict[ErrorCode, type[PreflogError]] = {
    ErrorCode.UNAUTHENTICATED: Unauthenticated,
    ErrorCode.FORBIDDEN: Forbidden,
    ErrorCode.NOT_FOUND: NotFound,
    ErrorCode.INVALID_INPUT: Invalid,
    ErrorCode.CONFLICT: Conflict,
    ErrorCode.UNAVAILABLE: Unavailable,
    ErrorCode.RATE_LIMITED: RateLimited,
    ErrorCode.INTERNAL: Internal,
}
