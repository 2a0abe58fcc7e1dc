"""Content parts as text."""

from __future__ import annotations

from preflog_contracts.datarow import Part
from preflog_export.domain import ChatMessage, content_text, hh_transcript


def test_text_and_markdown_are_kept_and_joined_with_a_blank_line() -> None:
    parts = [Part(kind="text", value="Look:"), Part(kind="markdown", value="**bold**")]
    assert content_text(parts) == "Look:\n\n**bold**"


def test_media_become_markdown_links() -> None:
    parts = [
        Part(kind="image", value="https://x/a.png"),
        Part(kind="audio", value="https://x/a.mp3"),
        Part(kind="video", value="https://x/a.mp4"),
        Part(kind="url", value="https://x/page"),
    ]
    assert content_text(parts) == (
        "![image](https://x/a.png)\n\n[audio](https://x/a.mp3)\n\n"
        "[video](https://x/a.mp4)\n\n<https://x/page>"
    )


def test_html_loses_tags_and_media_come_from_their_own_parts() -> None:
    parts = [
        Part(kind="html", value='<p>Tom &amp; Jerry</p><img src="https://x/t.png">'),
        Part(kind="image", value="https://x/t.png"),
    ]
    assert content_text(parts) == "Tom & Jerry\n\n![image](https://x/t.png)"
    assert content_text([Part(kind="html", value="<br/>")]) == ""


def test_hh_transcript_folds_system_into_the_next_human_turn() -> None:
    prompt = [
        ChatMessage("system", "be kind"),
        ChatMessage("user", "hi"),
        ChatMessage("assistant", "hello"),
        ChatMessage("system", "late rule"),
        ChatMessage("assistant", "again"),
    ]
    assert hh_transcript(prompt) == (
        "\n\nHuman: be kind\n\nhi\n\nAssistant: hello\n\nHuman: late rule\n\nAssistant: again"
    )
