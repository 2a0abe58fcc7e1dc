"""The resume cursor of an export stream: signed, bound to one project and one filter.

A cursor names a position in the project's export sequence (``seq``; for ``audit`` the
log's commit-order pair ``(tx, seq)``) and the hash of the filters it was issued for. It is
``base64url(json) + "." + HMAC-SHA256`` with the internal secret, so a client can neither
forge one nor reuse one for another project or other filters.
"""

from __future__ import annotations

import base64
import hashlib
import hmac

import msgspec

from preflog_contracts.errors import Invalid


class ExportCursor(msgspec.Struct, frozen=True, array_like=True):
    project_id: str
    filter_hash: str
    seq: int
    tx: int = 0  # audit only: the transaction of the event at ``seq``


_encoder = msgspec.json.Encoder()
_decoder = msgspec.json.Decoder(ExportCursor)


def _signature(secret: str, payload: bytes) -> str:
    digest = hmac.new(secret.encode(), payload, hashlib.sha256).digest()[:16]
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode()


def encode_cursor(secret: str, cursor: ExportCursor) -> str:
    """The opaque, signed text of ``cursor``."""
    payload = _encoder.encode(cursor)
    body = base64.urlsafe_b64encode(payload).rstrip(b"=").decode()
    return f"{body}.{_signature(secret, payload)}"


def decode_cursor(secret: str, text: str, *, project_id: str, filter_hash: str) -> ExportCursor:
    """The cursor in ``text``; :class:`Invalid` (field ``since``) when it is malformed, not
    signed by us, or issued for another project or other filters."""
    body, _, signature = text.partition(".")
    try:
        payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
        valid = hmac.compare_digest(signature, _signature(secret, payload))
        cursor = _decoder.decode(payload) if valid else None
    except (ValueError, msgspec.DecodeError):
        cursor = None
    if cursor is None:
        raise Invalid("the cursor is not valid", {"since": "not a cursor this service issued"})
    if cursor.project_id != project_id:
        raise Invalid(
            "the cursor belongs to another project", {"since": "issued for another project"}
        )
    if cursor.filter_hash != filter_hash:
        raise Invalid(
            "the cursor was issued for other filters",
            {"since": "resume with the format and filters the cursor was issued for"},
        )
    return cursor
