"""Turn a content string (markdown, possibly with HTML) into canonical parts.

The text is always kept verbatim as one part: ``html`` when it contains an HTML tag,
else ``markdown``. Media it references are added after it as ``image``/``video``/``audio``
parts: ``<img>``, ``<video>``, ``<audio>`` and ``<source>`` tags, and markdown images
``![alt](url)``. Only absolute http(s) URLs become media parts, so ``<img src=x>`` or a
``javascript:`` URL never turns into something a client would load. Nothing here
sanitises: rendering to a browser sanitises later (DOMAIN.md).
"""

from __future__ import annotations

import re
from html.parser import HTMLParser
from typing import Literal

from preflog_contracts.datarow import Part

MediaKind = Literal["image", "video", "audio"]

_HTML_TAG = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
# ![alt](url) or ![alt](<url> "title"); the URL may not contain whitespace or ')'.
_MARKDOWN_IMAGE = re.compile(r"!\[[^\]]*\]\(\s*<?(?P<url>[^)\s<>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
_MEDIA_TAGS: dict[str, MediaKind] = {"img": "image", "video": "video", "audio": "audio"}


def looks_like_html(text: str) -> bool:
    """True when the text contains at least one HTML tag."""
    return _HTML_TAG.search(text) is not None


def media_url(raw: str | None) -> str | None:
    """The usable URL of a ``src`` value, or None. Labelbox samples wrap URLs in angle
    brackets (``src="<https://...>"``), so those are unwrapped first."""
    if raw is None:
        return None
    url = raw.strip()
    if url.startswith("<") and url.endswith(">"):
        url = url[1:-1].strip()
    if re.match(r"(?i)^https?://[^\s/]+", url) is None or any(c.isspace() for c in url):
        return None
    return url


class _MediaCollector(HTMLParser):
    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.parts: list[Part] = []
        self._open: list[MediaKind] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        attributes = dict(attrs)
        if tag in _MEDIA_TAGS:
            kind = _MEDIA_TAGS[tag]
            if tag != "img":
                self._open.append(kind)
            self._add(kind, attributes.get("src"), attributes.get("type"))
        elif tag == "source":
            mimetype = attributes.get("type")
            source_kind = _kind_of_source(mimetype, self._open[-1] if self._open else None)
            if source_kind is not None:
                self._add(source_kind, attributes.get("src"), mimetype)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag in ("video", "audio") and self._open:
            self._open.pop()

    def handle_endtag(self, tag: str) -> None:
        if tag in ("video", "audio") and self._open:
            self._open.pop()

    def _add(self, kind: MediaKind, src: str | None, mimetype: str | None) -> None:
        url = media_url(src)
        if url is not None:
            self.parts.append(Part(kind=kind, value=url, mimetype=mimetype or None))


def _kind_of_source(mimetype: str | None, enclosing: MediaKind | None) -> MediaKind | None:
    if enclosing is not None:
        return enclosing
    prefix = (mimetype or "").split("/", 1)[0].lower()
    if prefix in ("image", "video", "audio"):
        return prefix  # type: ignore[return-value]
    return None


def html_media(html: str) -> list[Part]:
    """Media parts for the img/video/audio/source tags of an HTML fragment, in order."""
    collector = _MediaCollector()
    collector.feed(html)
    collector.close()
    return collector.parts


def markdown_images(text: str) -> list[Part]:
    """Image parts for the markdown images ``![alt](url)`` of a text, in order."""
    parts = []
    for match in _MARKDOWN_IMAGE.finditer(text):
        url = media_url(match.group("url"))
        if url is not None:
            parts.append(Part(kind="image", value=url))
    return parts


def parts_from_markup(text: str) -> list[Part]:
    """The canonical parts of one content string: the verbatim text, then its media
    (duplicates of the same kind and URL kept once)."""
    is_html = looks_like_html(text)
    media = markdown_images(text) + (html_media(text) if is_html else [])
    parts = [Part(kind="html" if is_html else "markdown", value=text)]
    seen: set[tuple[str, str]] = set()
    for part in media:
        if (part.kind, part.value) not in seen:
            seen.add((part.kind, part.value))
            parts.append(part)
    return parts
