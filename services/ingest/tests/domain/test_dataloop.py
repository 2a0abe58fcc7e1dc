"""Dataloop prompt items with responses from annotations or from our own form."""

from __future__ import annotations

import copy
from typing import Any

from preflog_contracts.datarow import Part
from preflog_ingest.domain import ParsedRow, Rejected, parse_value
from preflog_ingest.domain.dataloop import convert_dataloop
from preflog_ingest.domain.limits import DEFAULT_LIMITS
from preflog_ingest.domain.results import ConvertedRow

from .conftest import load_fixture


def item() -> dict[str, Any]:
    value: dict[str, Any] = copy.deepcopy(load_fixture("dataloop/prompt_item_two_prompts.json"))
    return value


def annotation_list() -> list[Any]:
    value: list[Any] = load_fixture("dataloop/prompt_item_two_prompts.annotations.json")
    return value


def test_prompts_in_file_order_with_responses_from_annotations() -> None:
    converted = convert_dataloop(item(), DEFAULT_LIMITS, annotation_list())
    assert isinstance(converted, ConvertedRow), converted
    row = converted.row
    assert [(m.id, m.role) for m in row.messages] == [("prompt1", "user"), ("prompt2", "user")]
    assert row.messages[0].content == [
        Part(kind="markdown", value="What animal is shown in the picture?"),
        Part(kind="image", value="https://example.org/items/fox.jpg", mimetype="image/jpeg"),
    ]
    assert [(p.id, p.after_message_id) for p in row.prompts] == [
        ("prompt1", "prompt1"),
        ("prompt2", "prompt2"),
    ]
    assert [(r.id, r.model_config_name, r.model_id) for r in row.prompts[0].responses] == [
        ("prompt1-1", "model-alpha", "m-a"),
        ("prompt1-2", "model-beta", "m-b"),
    ]
    assert [r.id for r in row.prompts[1].responses] == ["prompt2-1", "prompt2-2", "prompt2-3"]
    assert row.prompts[1].responses[1].content == [
        Part(kind="markdown", value="**Dens** dug in the ground.")
    ]


def test_embedded_annotations_give_the_same_row() -> None:
    embedded = item() | {"annotations": annotation_list()}
    result = parse_value(embedded, 1)
    assert isinstance(result, ParsedRow), result
    assert result.source_format == "dataloop"
    separate = convert_dataloop(item(), DEFAULT_LIMITS, annotation_list())
    assert isinstance(separate, ConvertedRow)
    assert result.row == separate.row


def test_item_without_responses_is_accepted() -> None:
    result = parse_value(item(), 1)
    assert isinstance(result, ParsedRow)
    assert [p.responses for p in result.row.prompts] == [[], []]


def test_responses_in_our_own_form() -> None:
    value = item() | {
        "id": "item-42",
        "name": "fox.json",
        "responses": [
            {"prompt_id": "prompt1", "content": "A fox.", "model_config_name": "m1"},
            {
                "prompt_id": "prompt1",
                "id": "own-2",
                "content": [{"kind": "image", "value": "https://example.org/fox2.jpg"}],
            },
        ],
    }
    result = parse_value(value, 1)
    assert isinstance(result, ParsedRow), result
    assert result.global_key == "item-42"
    assert result.global_key_source == "row"
    assert result.external_id == "fox.json"
    responses = result.row.prompts[0].responses
    assert [(r.id, r.title) for r in responses] == [("prompt1-1", "m1"), ("own-2", "Response 2")]


def test_annotation_for_unknown_prompt_is_refused() -> None:
    bad = copy.deepcopy(annotation_list())
    bad[3]["metadata"]["system"]["promptId"] = "prompt9"
    result = convert_dataloop(item(), DEFAULT_LIMITS, bad)
    assert isinstance(result, list)
    assert [(e.code, e.path) for e in result] == [
        ("UNKNOWN_PROMPT", "annotations[3].metadata.system.promptId")
    ]


def test_own_form_media_part_needs_a_url() -> None:
    value = item() | {
        "responses": [{"prompt_id": "prompt1", "content": [{"kind": "image", "value": "x"}]}]
    }
    result = parse_value(value, 1)
    assert isinstance(result, Rejected)
    assert (result.errors[0].code, result.errors[0].path) == (
        "BAD_URL",
        "responses[0].content[0].value",
    )


def test_not_a_prompt_item() -> None:
    value = item()
    value["metadata"]["dltype"] = "image"
    result = parse_value(value, 1)
    assert isinstance(result, Rejected)
    assert (result.errors[0].code, result.errors[0].path) == ("WRONG_TYPE", "metadata.dltype")


def test_image_value_must_be_a_url() -> None:
    value = item()
    value["prompts"]["prompt1"][1]["value"] = "fox.jpg"
    result = parse_value(value, 1)
    assert isinstance(result, Rejected)
    assert (result.errors[0].code, result.errors[0].path) == ("BAD_URL", "prompts.prompt1[1].value")
