"""Labelbox model-chat-evaluation v2: the message tree into messages and prompt points."""

from __future__ import annotations

import copy
from typing import Any

from preflog_ingest.domain import ParsedRow, Rejected, parse_value

from .conftest import load_fixture


def v2() -> dict[str, Any]:
    value: dict[str, Any] = copy.deepcopy(load_fixture("labelbox/v2_model_chat.json"))
    return value


def test_tree_becomes_two_prompt_points_with_source_ids() -> None:
    result = parse_value(v2(), 1)
    assert isinstance(result, ParsedRow), result
    row = result.row
    assert result.source_format == "labelbox_v2"
    assert [(m.id, m.role) for m in row.messages] == [
        ("m1", "user"),
        ("m2", "assistant"),
        ("m5", "user"),
    ]
    assert [(p.id, p.after_message_id) for p in row.prompts] == [
        ("prompt-m1", "m1"),
        ("prompt-m5", "m5"),
    ]
    first, second = row.prompts
    assert [(r.id, r.model_config_name, r.model_id) for r in first.responses] == [
        ("m2", "model-alpha", "cfg-alpha"),
        ("m3", "model-beta", "cfg-beta"),
        ("m4", "model-gamma", "cfg-gamma"),
    ]
    assert [r.id for r in second.responses] == ["m6", "m7"]
    assert second.responses[0].content[0].kind == "markdown"
    assert second.responses[0].content[0].value.startswith("```python")
    assert row.messages[0].author.name == "User"


def error_of(value: dict[str, Any]) -> tuple[str, str]:
    result = parse_value(value, 4)
    assert isinstance(result, Rejected), result
    return result.errors[0].code, result.errors[0].path


def test_unknown_actor_is_named() -> None:
    value = v2()
    value["messages"]["m3"]["actorId"] = "nobody"
    assert error_of(value) == ("UNKNOWN_ACTOR", "messages.m3.actorId")


def test_unknown_child_is_named() -> None:
    value = v2()
    value["messages"]["m5"]["childMessageIds"].append("m99")
    assert error_of(value) == ("UNKNOWN_MESSAGE", "messages.m5.childMessageIds[2]")


def test_cycle_is_refused() -> None:
    value = v2()
    value["messages"]["m6"]["childMessageIds"] = ["m1"]
    code, _ = error_of(value)
    assert code == "BROKEN_TREE"


def test_two_continuing_branches_are_refused() -> None:
    value = v2()
    value["messages"]["m3"]["childMessageIds"] = ["m5"]
    assert error_of(value) == ("BROKEN_TREE", "messages.m1.childMessageIds")


def test_unreachable_message_is_refused() -> None:
    value = v2()
    value["messages"]["m8"] = {"actorId": "u", "content": [], "childMessageIds": []}
    assert error_of(value) == ("BROKEN_TREE", "messages.m8")


def test_two_roots_are_refused() -> None:
    value = v2()
    value["rootMessageIds"] = ["m1", "m5"]
    assert error_of(value) == ("BROKEN_TREE", "rootMessageIds")


def test_unknown_content_type_is_refused() -> None:
    value = v2()
    value["messages"]["m2"]["content"][0]["type"] = "pdf"
    assert error_of(value) == ("UNSUPPORTED_CONTENT", "messages.m2.content[0].type")


def test_image_content_becomes_an_image_part() -> None:
    value = v2()
    value["messages"]["m1"]["content"].append(
        {"type": "image", "content": "https://example.org/a.png"}
    )
    result = parse_value(value, 1)
    assert isinstance(result, ParsedRow)
    assert result.row.messages[0].content[-1].kind == "image"


def test_wrong_version_for_v2() -> None:
    value = v2()
    value["version"] = 1
    assert error_of(value) == ("WRONG_VERSION", "version")
