"""Cutting an import body, arriving in chunks cut anywhere, into one byte string per row.

Memory stays constant in the body's size: a splitter keeps at most the row it is in the
middle of (and drops even that once it passes ``max_row_bytes``, remembering only that the
row is too large). Nothing is decoded here; each piece goes to ``parse_line``/``parse_value``.

- NDJSON: one row per line; ``line`` is the 1-based line number (blank lines included).
- JSON: a top-level array (``line`` is the 1-based element index), found by a small scanner
  that knows strings, escapes and nesting (msgspec has no streaming decoder); or a single
  object, which is one row (``line`` 1).
"""

from __future__ import annotations

import re
from typing import Final, Protocol

import msgspec

from preflog_contracts.text import shown
from preflog_ingest.domain.results import Rejected
from preflog_ingest.domain.row_errors import IngestErrorCode, RowError

MAX_ROW_BYTES: Final = 16 * 1024 * 1024
_BOM: Final = b"\xef\xbb\xbf"
_WHITESPACE: Final = b" \t\r\n"


class RowPiece(msgspec.Struct, frozen=True):
    """The raw bytes of one row and its line (NDJSON) or element number (JSON array)."""

    line: int
    data: bytes


Piece = RowPiece | Rejected


class BodyError(Exception):
    """The body as a whole is not of the announced shape (nothing more can be read)."""


class RowSplitter(Protocol):
    def feed(self, data: bytes) -> list[Piece]:
        """The rows completed by ``data``. Raises BodyError when the body is malformed."""
        ...

    def finish(self) -> list[Piece]:
        """The last rows once the body has ended. Raises BodyError when it ended early."""
        ...


def _too_large(line: int, max_row_bytes: int) -> Rejected:
    return Rejected(
        line=line,
        errors=[
            RowError(
                code=IngestErrorCode.ROW_TOO_LARGE,
                path="",
                message=f"the row is larger than {max_row_bytes} bytes",
            )
        ],
    )


class NdjsonSplitter:
    """Lines of an NDJSON body (``\\n`` or ``\\r\\n``; a UTF-8 BOM may start it)."""

    def __init__(self, max_row_bytes: int = MAX_ROW_BYTES) -> None:
        self.max_row_bytes = max_row_bytes
        self._tail = b""
        self._line = 0
        self._oversize = False
        self._started = False

    def feed(self, data: bytes) -> list[Piece]:
        if not self._started:
            self._tail += data
            if len(self._tail) < len(_BOM) and _BOM.startswith(self._tail):
                return []
            self._started = True
            data, self._tail = self._tail.removeprefix(_BOM), b""
        lines = data.split(b"\n")
        out: list[Piece] = []
        if len(lines) == 1:
            self._extend_tail(lines[0])
            return out
        self._extend_tail(lines[0])
        out.append(self._close_line())
        for complete in lines[1:-1]:
            self._line += 1
            if len(complete) > self.max_row_bytes:
                out.append(_too_large(self._line, self.max_row_bytes))
            else:
                out.append(RowPiece(self._line, complete))
        self._extend_tail(lines[-1])
        return out

    def finish(self) -> list[Piece]:
        if not self._started:
            self._started = True
            self._tail = self._tail.removeprefix(_BOM)
        if not self._tail and not self._oversize:
            return []
        return [self._close_line()]

    def _extend_tail(self, part: bytes) -> None:
        if self._oversize:
            return
        if len(self._tail) + len(part) > self.max_row_bytes:
            self._oversize, self._tail = True, b""
        else:
            self._tail += part

    def _close_line(self) -> Piece:
        self._line += 1
        piece: Piece = (
            _too_large(self._line, self.max_row_bytes)
            if self._oversize
            else RowPiece(self._line, self._tail)
        )
        self._tail, self._oversize = b"", False
        return piece


# One token: a whole string (group 1 is the closing quote; missing when the buffer ends
# inside the string), or one structural character. Unrolled loop: no backtracking.
_TOKEN = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*(")?|[\[\]{},]', re.DOTALL)


class JsonSplitter:
    """Elements of a top-level JSON array, or one top-level object as a single row."""

    def __init__(self, max_row_bytes: int = MAX_ROW_BYTES) -> None:
        self.max_row_bytes = max_row_bytes
        self._mode = "start"  # start | array | object | end
        self._buf = b""  # from the start of the current element (or the object)
        self._pos = 0  # where scanning resumes in _buf
        self._depth = 0  # nesting inside the current element
        self._index = 0  # elements completed so far
        self._oversize = False
        self._after_comma = False

    def feed(self, data: bytes) -> list[Piece]:
        if self._mode == "start":
            self._buf += data
            stripped = self._buf.lstrip(_WHITESPACE)
            if len(stripped) < len(_BOM) and _BOM.startswith(stripped):
                return []
            stripped = stripped.removeprefix(_BOM).lstrip(_WHITESPACE)
            if not stripped:
                self._buf = b""
                return []
            first = stripped[:1]
            if first == b"[":
                self._mode, self._buf, data = "array", b"", stripped[1:]
            elif first == b"{":
                self._mode, self._buf, data = "object", b"", stripped
            else:
                raise BodyError("a JSON body must be an array of rows or one row object")
        if self._mode == "object":
            if len(self._buf) + len(data) > self.max_row_bytes:
                self._oversize, self._buf = True, b""
            elif not self._oversize:
                self._buf += data
            return []
        if self._mode == "end":
            if data.strip(_WHITESPACE):
                raise BodyError("unexpected content after the closing ']' of the array")
            return []
        return self._scan(data)

    def finish(self) -> list[Piece]:
        if self._mode == "object":
            if self._oversize:
                return [_too_large(1, self.max_row_bytes)]
            return [RowPiece(1, self._buf)]
        if self._mode == "array":
            raise BodyError(
                f"the JSON array ended after element {self._index} without its closing ']'"
            )
        return []

    def _scan(self, data: bytes) -> list[Piece]:
        buf = self._buf + data
        out: list[Piece] = []
        element_start = 0
        pos = self._pos
        depth = self._depth
        for m in _TOKEN.finditer(buf, pos):
            token = buf[m.start()]
            if token == 0x22:  # '"'
                if m.group(1) is None:  # the buffer ends inside this string
                    pos = m.start()
                    break
                continue
            if token in b"[{":
                depth += 1
            elif token in b"]}":
                if depth == 0:  # the array's own ']'
                    self._emit(buf[element_start : m.start()], out, last=True)
                    self._mode = "end"
                    if buf[m.end() :].strip(_WHITESPACE):
                        raise BodyError("unexpected content after the closing ']' of the array")
                    self._buf, self._pos, self._depth = b"", 0, 0
                    return out
                depth -= 1
            elif depth == 0:  # ',' between elements
                self._emit(buf[element_start : m.start()], out, last=False)
                element_start = m.end()
        else:
            pos = len(buf)
        # Keep only the unfinished element; past the size cap keep none of it.
        rest = buf[element_start:]
        pos -= element_start
        if self._oversize or len(rest) > self.max_row_bytes:
            self._oversize = True
            rest, pos = rest[pos:], 0
            if len(rest) > 4 * self.max_row_bytes:  # one endless string: give up on the body
                raise BodyError(f"a JSON string in element {self._index + 1} never ends")
        self._buf, self._pos, self._depth = rest, pos, depth
        return out

    def _emit(self, raw: bytes, out: list[Piece], *, last: bool) -> None:
        element = raw.strip(_WHITESPACE)
        if last and not element and not self._oversize:
            if self._after_comma:
                self._index += 1
                out.append(_trailing_comma(self._index))
            return
        self._index += 1
        self._after_comma = not last
        if self._oversize:
            out.append(_too_large(self._index, self.max_row_bytes))
            self._oversize = False
        elif not element:
            out.append(_trailing_comma(self._index))
        else:
            out.append(RowPiece(self._index, element))


def _trailing_comma(index: int) -> Rejected:
    return Rejected(
        line=index,
        errors=[
            RowError(
                code=IngestErrorCode.INVALID_JSON,
                path="",
                message="empty array element (a comma too many)",
            )
        ],
    )


def splitter_for(content_type: str, max_row_bytes: int = MAX_ROW_BYTES) -> RowSplitter:
    """The splitter for an HTTP content type (parameters such as ``; charset=`` ignored):
    NDJSON types split by line, ``application/json`` (and anything ending in ``+json``) as
    an array or one object. Raises BodyError for any other type."""
    base = content_type.split(";", 1)[0].strip().lower()
    if base in (
        "application/x-ndjson",
        "application/jsonl",
        "application/ndjson",
        "application/x-jsonlines",
        "application/jsonlines",
    ):
        return NdjsonSplitter(max_row_bytes)
    if base == "application/json" or base.endswith("+json"):
        return JsonSplitter(max_row_bytes)
    raise BodyError(
        f"content type {shown(content_type)} is not supported; send application/x-ndjson"
        " or application/json"
    )
