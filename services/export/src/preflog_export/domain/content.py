"""Content parts as the text training formats carry.

Rules (also in ``proto/export/README.md``): ``text`` and ``markdown`` parts are kept as
they are; ``html`` parts lose their tags (ingest already parsed their media into separate
parts, so keeping the tags would duplicate them); ``image`` becomes ``![image](url)``,
``audio`` / ``video`` / ``url`` become ``[audio](url)`` / ``[video](url)`` / ``<url>``.
Parts are joined with a blank line.
"""

from __future__ import annotations

import html
import re

from preflog_contracts.datarow import Part

PART_SEPARATOR = "\n\n"
_TAG = re.compile(r"<[^>]*>")
_BLANK_RUNS = re.compile(r"\n{3,}")


def part_text(part: Part) -> str:
    """One part as markdown text (empty for an html part that holds only tags)."""
    kind = part.kind
    if kind == "text" or kind == "markdown":
        return part.value
    if kind == "html":
        return _BLANK_RUNS.sub("\n\n", html.unescape(_TAG.sub("", part.value))).strip()
    if kind == "image":
        return f"![image]({part.value})"
    if kind == "url":
        return f"<{part.value}>"
    return f"[{kind}]({part.value})"


def content_text(parts: list[Part]) -> str:
    """A whole content list as one markdown string."""
    if len(parts) == 1:
        part = parts[0]
        # The common case: one text part, returned without building anything.
        if part.kind == "text" or part.kind == "markdown":
            return part.value
    return PART_SEPARATOR.join(text for text in map(part_text, parts) if text)
