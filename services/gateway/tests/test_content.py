"""Content rendering: HTML is sanitised to the allow-list whatever the input."""

from __future__ import annotations

import json
import re
from pathlib import Path

from hypothesis import given
from hypothesis import strategies as st

from preflog_contracts.datarow import Part
from preflog_gateway.graphql.content import ContentFormat, render
from preflog_ingest.domain.content_parts import parts_from_markup

FIXTURES = Path(__file__).resolve().parents[3] / "../shared/fixtures"
EVENT_HANDLER = re.compile(r"<[^>]*\son\w+\s*=", re.I)
UNSAFE_URL = re.compile(r"(href|src|poster)\s*=\s*[\"']?\s*(javascript|data|vbscript):", re.I)
TOKENS = [
    *"<>\"'=/ :;&#abcdefgxyz()[]!*`\n",
    "script",
    "onerror",
    "onload",
    "javascript",
    "img",
    "src",
    "svg",
    "iframe",
    "href",
    "a ",
    "style",
]


def strings(value: object) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [s for v in value.values() for s in strings(v)]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


def assert_safe(html: str) -> None:
    lowered = html.lower()
    assert "<script" not in lowered and not UNSAFE_URL.search(html)
    assert "<iframe" not in lowered and "<style" not in lowered
    assert not EVENT_HANDLER.search(html), html


def test_script_injection_fixture_renders_without_script_or_handlers() -> None:
    data = json.loads((FIXTURES / "edge/script_injection.json").resolve().read_text())
    texts = [s for s in strings(data) if "<" in s or "javascript" in s.lower()]
    assert texts, "the fixture carries markup"
    for text in texts:
        for kind in ("markdown", "html", "text"):
            assert_safe(render([Part(kind=kind, value=text)], ContentFormat.HTML))  # type: ignore[arg-type]


def test_allowed_markup_and_media_survive() -> None:
    html = render(
        [
            Part(
                kind="markdown",
                value="**bold** [ok](https://example.com) [bad](javascript:alert(1))",
            ),
            Part(
                kind="html",
                value='<img src="https://x/y.png" onerror="alert(1)"><video src="https://x/v.mp4"></video>',
            ),
            Part(kind="audio", value="https://x/a.mp3", mimetype="audio/mpeg"),
        ],
        ContentFormat.HTML,
    )
    assert "<strong>bold</strong>" in html and 'href="https://example.com"' in html
    assert "<img" in html and "<video" in html and "<audio" in html and "<source" in html
    assert_safe(html)


def test_text_and_markdown_formats() -> None:
    parts = [
        Part(kind="html", value="<b>hi</b> &amp; bye"),
        Part(kind="image", value="https://x/i.png"),
    ]
    assert render(parts, ContentFormat.TEXT) == "hi & bye\nhttps://x/i.png"
    assert "![image](https://x/i.png)" in render(parts, ContentFormat.MARKDOWN)


def test_media_the_text_shows_is_drawn_once() -> None:
    """Import keeps the text verbatim and adds the media it references as parts of their
    own: HTML and MARKDOWN show each once (they drew it twice), TEXT lists the URL."""
    row = json.loads((FIXTURES / "labelbox/v1_image.json").resolve().read_text())
    for output in row["modelOutputs"]:
        parts = parts_from_markup(output["content"])
        assert [p.kind for p in parts] == ["html", "image"]
        assert render(parts, ContentFormat.HTML).count("<img") == 1
        assert parts[1].value in render(parts, ContentFormat.TEXT)
    url = "https://x/i.png?a=1&b=2"
    escaped = [
        Part(kind="html", value=f'<img src="{url.replace("&", "&amp;")}">'),
        Part(kind="image", value=url),
    ]
    assert render(escaped, ContentFormat.HTML).count("<img") == 1
    markdown = parts_from_markup(f"Look: ![tulip]({url})")
    assert render(markdown, ContentFormat.MARKDOWN).count(url) == 1
    assert render(markdown, ContentFormat.HTML).count("<img") == 1
    # Media no text shows (an added streamed response, a caption beside it) is drawn.
    streamed = [Part(kind="markdown", value="my clip"), Part(kind="video", value="https://x/v.mp4")]
    assert render(streamed, ContentFormat.HTML).count("<video") == 1


@given(st.lists(st.sampled_from(TOKENS), max_size=80).map("".join))
def test_any_input_renders_safe(text: str) -> None:
    for kind in ("markdown", "html"):
        assert_safe(render([Part(kind=kind, value=text)], ContentFormat.HTML))  # type: ignore[arg-type]
