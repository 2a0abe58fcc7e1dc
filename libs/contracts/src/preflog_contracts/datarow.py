"""The canonical data row every input format becomes (see DOMAIN.md, "Canonical data row")."""

from __future__ import annotations

from typing import Literal

import msgspec

PartKind = Literal["text", "markdown", "html", "image", "audio", "video", "url"]
Role = Literal["user", "assistant", "system"]


class Part(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    kind: PartKind
    value: str
    mimetype: str | None = None


class Author(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str = ""
    name: str = ""


class Message(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    role: Role
    content: list[Part]
    author: Author = Author()
    timestamp: str | None = None
    align: str | None = None
    can_label: bool = True


class Response(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    title: str
    content: list[Part]
    model_config_name: str = ""
    model_id: str | None = None
    source: str = "import"  # import | annotator | prelabel


class PromptPoint(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    id: str
    after_message_id: str | None
    responses: list[Response]


class DataRow(msgspec.Struct, frozen=True, kw_only=True, omit_defaults=True):
    messages: list[Message]
    prompts: list[PromptPoint]


def plain_text(parts: list[Part]) -> str:
    """The text of a content list, media as their URL (what text-only exports carry)."""
    return "\n".join(p.value for p in parts)
