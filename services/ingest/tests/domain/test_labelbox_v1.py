"""Labelbox conversational v1 rows: ids, roles, prompt point, responses and media."""

from __future__ import annotations

from preflog_contracts.datarow import Part
from preflog_ingest.domain import ParsedRow, parse_line, parse_value

from .conftest import fixture_bytes, load_fixture


def parsed(relative: str) -> ParsedRow:
    result = parse_line(fixture_bytes(relative), 1)
    assert isinstance(result, ParsedRow), result
    return result


def test_shopping_keeps_message_ids_and_derives_response_ids_from_titles() -> None:
    result = parsed("labelbox/v1_shopping.json")
    row = result.row
    assert result.source_format == "labelbox_v1"
    assert [m.id for m in row.messages] == ["message-0", "message-1", "message-2", "message-3"]
    assert [m.role for m in row.messages] == ["assistant", "user", "assistant", "user"]
    assert row.messages[0].author.name == "Bot"
    assert row.messages[0].can_label is False
    assert row.messages[1].align == "right"
    assert row.messages[0].timestamp == "1530718491"
    [prompt] = row.prompts
    assert prompt.id == "prompt-message-3"
    assert prompt.after_message_id == "message-3"
    assert [(r.id, r.title, r.model_config_name) for r in prompt.responses] == [
        ("response-a", "Response A", "GPT-3.5 with temperature 0"),
        ("response-b", "Response B", "GPT-4 with temperature 0.2"),
    ]
    # Markdown links are not media: the content stays one markdown part.
    assert prompt.responses[0].content == [
        Part(
            kind="markdown",
            value=load_fixture("labelbox/v1_shopping.json")["modelOutputs"][0]["content"],
        )
    ]


def test_ids_are_stable_across_parses() -> None:
    first = parsed("labelbox/v1_shopping.json")
    second = parse_value(load_fixture("labelbox/v1_shopping.json"), 7)
    assert isinstance(second, ParsedRow)
    assert first.row == second.row
    assert first.global_key == second.global_key
    assert first.global_key.startswith("sha256:")
    assert first.global_key_source == "hash"


def test_image_outputs_keep_html_and_gain_image_parts() -> None:
    row = parsed("labelbox/v1_image.json").row
    [prompt] = row.prompts
    assert [r.id for r in prompt.responses] == ["image-1", "image-2"]
    content = prompt.responses[0].content
    assert content[0].kind == "html"
    assert content[0].value.startswith("<img style='width:50%'")
    assert content[1].kind == "image"
    assert content[1].value.startswith("https://storage.googleapis.com/labelbox-datasets/")
    assert content[1].value.endswith(".jpeg")
    assert len(content) == 2


def test_video_message_becomes_html_plus_video_part() -> None:
    row = parsed("labelbox/v1_video.json").row
    assert row.messages[0].content[0].kind == "html"
    assert row.messages[0].content[1] == Part(
        kind="video",
        value="https://storage.googleapis.com/gtv-videos-bucket/sample/ForBiggerMeltdowns.mp4",
    )
    assert [r.id for r in row.prompts[0].responses] == ["transcription-1", "transcription-2"]


def test_audio_source_tags_are_unwrapped_with_their_mimetype() -> None:
    row = parsed("labelbox/v1_audio.json").row
    content = row.prompts[0].responses[1].content
    assert content[0].kind == "html"
    assert content[1] == Part(
        kind="audio",
        value="https://storage.googleapis.com/labelbox-datasets/audio-sample-data/Firework_2.m4a",
        mimetype="audio/mpeg",
    )


def test_single_model_output_is_accepted() -> None:
    row = parsed("edge/one_model_output.json").row
    assert [r.id for r in row.prompts[0].responses] == ["response-a"]


def test_script_injection_is_stored_verbatim_and_yields_no_media() -> None:
    raw = load_fixture("edge/script_injection.json")
    row = parsed("edge/script_injection.json").row
    response = row.prompts[0].responses[0]
    assert response.content == [Part(kind="html", value=raw["modelOutputs"][0]["content"])]
    assert "<script>alert(2)</script>" in response.content[0].value


def test_titles_that_slug_the_same_are_refused() -> None:
    value = load_fixture("labelbox/v1_shopping.json")
    value["modelOutputs"][1]["title"] = "response  A!"
    result = parse_value(value, 3)
    assert not isinstance(result, ParsedRow)
    [error] = result.errors  # type: ignore[union-attr]
    assert (error.code, error.path) == ("DUPLICATE_RESPONSE_ID", "modelOutputs[1].title")
