"""Text Postgres cannot store: the NUL character (U+0000) in ``text`` or ``jsonb``.

A NUL in any string a client sends would fail the statement that stores it, deep inside a
service, as an internal error. Every entry point refuses it first, naming the field: the
gateway (GraphQL variables and literals), the RPC server (any request), ingest (per row, so
the other rows of an import still land).
"""

from __future__ import annotations

import json
import re
from typing import Any

NUL = "\x00"
NUL_REFUSED = "must not contain the NUL character (U+0000)"
_NAME = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")


def has_nul(value: Any) -> bool:
    """Whether a string, or any string or key inside decoded JSON (dicts and lists), holds
    U+0000. Iterative, so any depth the JSON decoder accepted is fine."""
    stack = [value]
    while stack:
        item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return True
        elif isinstance(item, dict):
            for key, inner in item.items():
                if isinstance(key, str) and NUL in key:
                    return True
                stack.append(inner)
        elif isinstance(item, list | tuple):
            stack.extend(item)
    return False


def nul_path(value: Any, root: str = "") -> str | None:
    """Where the first U+0000 in ``value`` is, as a field path (``messages[0].content``;
    ``root`` itself when ``value`` is the string), or None when there is none. A key that is
    not a plain name is written JSON-quoted (``meta["a\\u0000"]``)."""
    if not has_nul(value):
        return None
    stack: list[tuple[str, Any]] = [(root, value)]
    while stack:
        path, item = stack.pop()
        if isinstance(item, str):
            if NUL in item:
                return path
        elif isinstance(item, dict):
            for key in reversed(list(item)):
                stack.append((_key_path(path, str(key)), item[key]))
            for key in item:
                if isinstance(key, str) and NUL in key:
                    return _key_path(path, key)
        elif isinstance(item, list | tuple):
            stack.extend((f"{path}[{i}]", item[i]) for i in reversed(range(len(item))))
    return None  # not reached: has_nul found one


def _key_path(path: str, key: str) -> str:
    if _NAME.fullmatch(key):
        return f"{path}.{key}" if path else key
    return f"{path}[{json.dumps(key)}]"


SHOWN_CHARACTERS = 60


def shown(value: Any, limit: int = SHOWN_CHARACTERS) -> str:
    """``value`` as an error message quotes it (``repr``), cut to ``limit`` characters with
    its full length said: a refused megabyte is not echoed back whole."""
    text = repr(value)
    if len(text) <= limit:
        return text
    return f"{text[:limit]}... ({len(text):,} characters)"
