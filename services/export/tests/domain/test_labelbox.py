"""The labelbox format's classifications, objects and details."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any

import msgspec

from preflog_contracts.events.labels import Answer, LabelSnapshot, Target
from preflog_contracts.events.projects import Option, Question
from preflog_export.domain import ExportOptions, labelbox_records
from preflog_export.domain.examples import example_item


def as_json(record: Any) -> Any:
    return msgspec.json.decode(msgspec.json.encode(record))


def test_example_label_shape() -> None:
    record = as_json(labelbox_records(example_item(), ExportOptions())[0])
    project = record["projects"]["proj-1"]
    assert project["project_details"]["workflow_status"] == "Done"
    label = project["labels"][0]
    assert label["label_details"]["created_by"] == "ann@example.com"
    assert label["label_details"]["reviews"][0]["review_action"] == "Approve"
    assert label["performance_details"]["seconds_to_create"] == 240
    assert label["performance_details"]["benchmark_score"] == 0.9
    assert label["performance_details"]["consensus_score"] is None
    crown, ranking = label["annotations"]["objects"]
    assert crown["selected_message"] == {
        "message_id": "r1",
        "model_config_name": "model-alpha",
        "parent_message_id": "m2",
    }
    # The added response keeps the model name the annotator gave it.
    assert [
        (m["message_id"], m["model_config_name"], m["order"])
        for m in ranking["ranked_messages"]["ranked_messages"]
    ] == [("r5", "annotator", 1), ("r3", "model-alpha", 2), ("r4", "model-beta", 3)]
    by_name = {c["name"]: c for c in label["annotations"]["classifications"]}
    assert set(by_name) == {"best_response", "issues", "helpfulness"}  # "why" is nested
    assert by_name["best_response"]["radio_answer"]["classifications"] == [
        {"name": "why", "value": "why", "text_answer": {"content": "Names the animal correctly."}}
    ]
    assert by_name["issues"]["message_id"] == "m4"
    assert [o["value"] for o in by_name["issues"]["conversational_checklist_answers"]] == [
        "too_vague"
    ]
    assert by_name["helpfulness"]["message_id"] == "r3"
    assert by_name["helpfulness"]["conversational_radio_answer"]["value"] == "4"


def test_answer_forms_by_kind_and_target(build: SimpleNamespace) -> None:
    questions = [
        Question(
            id="tone", title="Tone", kind="RADIO", options=[Option(value="warm", label="Warm")]
        ),
        Question(id="ok", title="OK?", kind="YES_NO", scope="RESPONSE"),
        Question(id="note", title="Note", kind="TEXT", scope="MESSAGE"),
        Question(id="flags", title="Flags", kind="CHECKLIST"),
    ]
    answers = [
        Answer(question_id="tone", value="warm"),
        Answer(question_id="ok", value=True, target=Target(response_id="B")),
        Answer(question_id="note", value="hi", target=Target(message_id="m1")),
        Answer(question_id="flags", value=["a", "b"]),
        Answer(question_id="why", value="orphan follow-up"),
        Answer(question_id="unknown_list", value=["x"], target=Target(message_id="m1")),
    ]
    label = build.label("l1")
    label = msgspec.structs.replace(label, snapshot=LabelSnapshot(answers=answers))
    record = as_json(labelbox_records(build.item([label], questions=questions), ExportOptions())[0])
    got = record["projects"]["proj"]["labels"][0]["annotations"]["classifications"]
    assert got == [
        {
            "name": "tone",
            "value": "tone",
            "radio_answer": {"name": "Warm", "value": "warm", "classifications": []},
        },
        {
            "name": "flags",
            "value": "flags",
            "checklist_answers": [
                {"name": "a", "value": "a", "classifications": []},
                {"name": "b", "value": "b", "classifications": []},
            ],
        },
        {"name": "why", "value": "why", "text_answer": {"content": "orphan follow-up"}},
        {
            "name": "ok",
            "value": "ok",
            "message_id": "B",
            "conversational_radio_answer": {"name": "yes", "value": "yes", "classifications": []},
        },
        {
            "name": "note",
            "value": "note",
            "message_id": "m1",
            "conversational_text_answer": {"content": "hi"},
        },
        {
            "name": "unknown_list",
            "value": "unknown_list",
            "message_id": "m1",
            "conversational_checklist_answers": [
                {"name": "x", "value": "x", "classifications": []}
            ],
        },
    ]


def test_follow_up_of_an_unchosen_option_stays_top_level(build: SimpleNamespace) -> None:
    questions = [
        Question(
            id="best",
            title="Best",
            kind="RADIO",
            options=[
                Option(value="A", follow_ups=[Question(id="why", title="Why", kind="TEXT")]),
                Option(value="B"),
            ],
        )
    ]
    answers = [Answer(question_id="best", value="B"), Answer(question_id="why", value="w")]
    label = msgspec.structs.replace(build.label("l1"), snapshot=LabelSnapshot(answers=answers))
    record = as_json(labelbox_records(build.item([label], questions=questions), ExportOptions())[0])
    names = [
        c["name"] for c in record["projects"]["proj"]["labels"][0]["annotations"]["classifications"]
    ]
    assert names == ["best", "why"]


def test_every_exported_label_is_listed_and_reference_selected(build: SimpleNamespace) -> None:
    item = build.item(
        [
            build.label("l1", crowns={"p1": "A"}),
            build.label("l2", crowns={"p1": "B"}, reference=True),
            build.label("l3", status="SUBMITTED"),
        ]
    )
    record = as_json(labelbox_records(item, ExportOptions())[0])
    project = record["projects"]["proj"]
    assert [label["id"] for label in project["labels"]] == ["l1", "l2"]
    assert project["project_details"]["selected_label_id"] == "l2"
    assert (
        labelbox_records(build.item([build.label("l3", status="SUBMITTED")]), ExportOptions()) == []
    )
