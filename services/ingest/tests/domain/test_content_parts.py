"""Content strings into parts: verbatim text plus media parsed from HTML and markdown."""

from __future__ import annotations

import pytest

from preflog_contracts.datarow import Part
from preflog_ingest.domain import parts_from_markup


def test_plain_markdown_is_one_part() -> None:
    assert parts_from_markup("**bold** and [a link](https://x.org)") == [
        Part(kind="markdown", value="**bold** and [a link](https://x.org)")
    ]


def test_markdown_image_keeps_the_markdown_and_adds_an_image() -> None:
    text = 'Look: ![a fox](https://x.org/fox.png "Fox") and ![](<https://x.org/b c>)'
    assert parts_from_markup(text) == [
        Part(kind="markdown", value=text),
        Part(kind="image", value="https://x.org/fox.png"),
    ]


def test_video_with_sources_and_types() -> None:
    html = (
        '<video controls><source src="https://x.org/a.webm" type="video/webm">'
        '<source src="https://x.org/a.mp4" type="video/mp4"></video>'
        '<img src="https://x.org/poster.jpg"><img src="https://x.org/poster.jpg">'
    )
    assert parts_from_markup(html) == [
        Part(kind="html", value=html),
        Part(kind="video", value="https://x.org/a.webm", mimetype="video/webm"),
        Part(kind="video", value="https://x.org/a.mp4", mimetype="video/mp4"),
        Part(kind="image", value="https://x.org/poster.jpg"),
    ]


def test_standalone_source_takes_its_kind_from_the_type() -> None:
    html = '<source src="https://x.org/s.ogg" type="audio/ogg"><source src="https://x.org/u">'
    assert parts_from_markup(html)[1:] == [
        Part(kind="audio", value="https://x.org/s.ogg", mimetype="audio/ogg")
    ]


@pytest.mark.parametrize(
    "src",
    ["x", "javascript:alert(1)", "data:image/png;base64,AAAA", "//x.org/a.png", "/a.png", ""],
)
def test_only_absolute_http_urls_become_media(src: str) -> None:
    html = f'<img src="{src}" onerror="alert(1)">'
    assert parts_from_markup(html) == [Part(kind="html", value=html)]


def test_broken_html_does_not_raise() -> None:
    html = "<video src='https://x.org/v.mp4'><audio><source src=<<<>>> </img></video></p>"
    parts = parts_from_markup(html)
    assert parts[0] == Part(kind="html", value=html)
    assert Part(kind="video", value="https://x.org/v.mp4") in parts
