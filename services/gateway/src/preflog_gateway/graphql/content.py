"""Rendering message and response content for clients: TEXT, MARKDOWN, or sanitised HTML.

HTML is the only format a browser renders as markup, so it alone is sanitised: markdown is
rendered with markdown-it (raw HTML allowed, because Labelbox carries media as HTML) and the
result is cleaned by nh3 to an allow-list. No script, no event handler attribute, no
``javascript:`` URL survives.
"""

from __future__ import annotations

import html
from enum import Enum

import nh3
from markdown_it import MarkdownIt

from preflog_contracts.datarow import Part

ALLOWED_TAGS = frozenset(
    {
        "p",
        "br",
        "hr",
        "span",
        "div",
        "strong",
        "b",
        "em",
        "i",
        "u",
        "s",
        "del",
        "ins",
        "mark",
        "sub",
        "sup",
        "small",
        "code",
        "pre",
        "kbd",
        "blockquote",
        "ul",
        "ol",
        "li",
        "dl",
        "dt",
        "dd",
        "h1",
        "h2",
        "h3",
        "h4",
        "h5",
        "h6",
        "table",
        "thead",
        "tbody",
        "tfoot",
        "tr",
        "th",
        "td",
        "a",
        "img",
        "video",
        "audio",
        "source",
    }
)
ALLOWED_ATTRIBUTES: dict[str, set[str]] = {
    "a": {"href", "title"},
    "img": {"src", "alt", "title", "width", "height"},
    "video": {"src", "controls", "width", "height", "poster", "preload", "muted", "loop"},
    "audio": {"src", "controls", "preload", "muted", "loop"},
    "source": {"src", "type"},
    "th": {"align"},
    "td": {"align"},
    "ol": {"start"},
}
SAFE_URL_SCHEMES = frozenset({"http", "https", "mailto"})

_markdown = (
    MarkdownIt("commonmark", {"html": True, "linkify": False})
    .enable("table")
    .enable("strikethrough")
)


class ContentFormat(Enum):
    TEXT = "TEXT"
    MARKDOWN = "MARKDOWN"
    HTML = "HTML"


def sanitise_html(markup: str) -> str:
    """``markup`` reduced to the allow-list (tags, attributes, URL schemes)."""
    return nh3.clean(
        markup,
        tags=set(ALLOWED_TAGS),
        attributes=ALLOWED_ATTRIBUTES,
        url_schemes=set(SAFE_URL_SCHEMES),
        link_rel="noopener noreferrer nofollow",
        strip_comments=True,
    )


_TEXT_KINDS = ("text", "markdown", "html")


def _shown_by_text(part: Part, parts: list[Part]) -> bool:
    """A media part whose URL a text part of the same content holds (as is, or escaped as
    HTML writes it in an attribute): that text shows it in HTML and MARKDOWN."""
    if part.kind in _TEXT_KINDS:
        return False
    escaped = html.escape(part.value, quote=True)
    return any(part.value in p.value or escaped in p.value for p in parts if p.kind in _TEXT_KINDS)


def _media_markdown(part: Part) -> str:
    if part.kind == "image":
        return f"![image]({part.value})"
    return f"[{part.kind}]({part.value})"


def _media_html(part: Part) -> str:
    src = html.escape(part.value, quote=True)
    if part.kind == "image":
        return f'<img src="{src}" alt="image">'
    if part.kind in ("video", "audio"):
        kind = f' type="{html.escape(part.mimetype, quote=True)}"' if part.mimetype else ""
        return f'<{part.kind} controls><source src="{src}"{kind}></{part.kind}>'
    return f'<a href="{src}">{src}</a>'


def render(parts: list[Part], fmt: ContentFormat | None) -> str:
    """One string for a content list in the requested format.

    TEXT: text with markup removed and media as URLs. MARKDOWN: the source as stored (HTML
    parts kept verbatim; a client rendering it must sanitise). HTML: rendered and sanitised.
    An explicit null is the default, MARKDOWN (API.md declares the argument nullable).
    """
    if fmt is None:
        fmt = ContentFormat.MARKDOWN
    if fmt is not ContentFormat.TEXT:
        # Import keeps a content's text verbatim and adds the media it references as parts
        # of their own: shown from the text already, they were drawn twice.
        parts = [p for p in parts if not _shown_by_text(p, parts)]
    if fmt is ContentFormat.TEXT:
        out = []
        for p in parts:
            if p.kind == "html":
                out.append(html.unescape(nh3.clean(p.value, tags=set())))
            else:
                out.append(p.value)
        return "\n".join(out)
    if fmt is ContentFormat.MARKDOWN:
        return "\n\n".join(
            p.value if p.kind in ("text", "markdown", "html") else _media_markdown(p) for p in parts
        )
    chunks = []
    for p in parts:
        if p.kind in ("text", "markdown"):
            # Model output is markdown in practice, whatever the source called it.
            chunks.append(_markdown.render(p.value))
        elif p.kind == "html":
            chunks.append(p.value)
        else:
            chunks.append(_media_html(p))
    return sanitise_html("\n".join(chunks))
