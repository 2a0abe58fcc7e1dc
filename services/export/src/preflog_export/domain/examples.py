"""The example records in ``proto/export/<format>.example.json``, generated from code.

A test regenerates them and compares, so the documented examples cannot drift from what
the formats produce.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec

from preflog_contracts.datarow import Author, DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.envelope import Metadata, RecordedEvent
from preflog_contracts.events.base import encode_event
from preflog_contracts.events.labels import (
    Answer,
    Crown,
    EditedResponse,
    LabelSnapshot,
    RankEntry,
    Ranking,
    ResponseCrowned,
    Target,
)
from preflog_contracts.events.projects import Option, Question
from preflog_export.domain.formats.audit import audit_record
from preflog_export.domain.item import ExportItem, ExportLabel, Person, Review
from preflog_export.domain.options import ExportOptions
from preflog_export.domain.registry import ITEM_FORMATS


def _at(minute: int) -> datetime:
    return datetime(2025, 3, 1, 12, minute, tzinfo=UTC)


def example_item() -> ExportItem:
    """A two-prompt chat judged by one approved label that crowned, ranked, edited a
    response, added one and answered questions on the conversation, a message and a
    response."""
    row = DataRow(
        messages=[
            Message(
                id="m1",
                role="system",
                content=[Part(kind="text", value="You are a patient teacher.")],
            ),
            Message(
                id="m2",
                role="user",
                author=Author(id="u", name="User"),
                content=[
                    Part(kind="text", value="What is in this picture?"),
                    Part(kind="image", value="https://example.com/cat.png", mimetype="image/png"),
                ],
            ),
            Message(
                id="m3",
                role="assistant",
                content=[Part(kind="markdown", value="A **cat** asleep on a sofa.")],
            ),
            Message(id="m4", role="user", content=[Part(kind="text", value="Is it happy?")]),
        ],
        prompts=[
            PromptPoint(
                id="p1",
                after_message_id="m2",
                responses=[
                    Response(
                        id="r1",
                        title="Response A",
                        content=[Part(kind="markdown", value="A **cat** asleep on a sofa.")],
                        model_config_name="model-alpha",
                    ),
                    Response(
                        id="r2",
                        title="Response B",
                        content=[Part(kind="text", value="A dog.")],
                        model_config_name="model-beta",
                    ),
                ],
            ),
            PromptPoint(
                id="p2",
                after_message_id="m4",
                responses=[
                    Response(
                        id="r3",
                        title="Response A",
                        content=[Part(kind="text", value="It looks content.")],
                        model_config_name="model-alpha",
                    ),
                    Response(
                        id="r4",
                        title="Response B",
                        content=[Part(kind="text", value="Cats are never happy.")],
                        model_config_name="model-beta",
                    ),
                ],
            ),
        ],
    )
    questions = [
        Question(
            id="best_response",
            title="Which response is best overall?",
            kind="RADIO",
            options=[
                Option(
                    value="Response A",
                    follow_ups=[Question(id="why", title="Why?", kind="TEXT")],
                ),
                Option(value="Response B"),
            ],
        ),
        Question(
            id="issues",
            title="Issues in this message",
            kind="CHECKLIST",
            scope="MESSAGE",
            options=[Option(value="too_vague"), Option(value="unsafe")],
        ),
        Question(
            id="helpfulness", title="Helpfulness", kind="SCALE", scope="RESPONSE", min=1, max=5
        ),
    ]
    snapshot = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id="r1")],
        rankings=[
            Ranking(
                prompt_id="p2",
                ranking=[RankEntry("r5", 1), RankEntry("r3", 2), RankEntry("r4", 3)],
            )
        ],
        answers=[
            Answer(question_id="best_response", value="Response A"),
            Answer(question_id="why", value="Names the animal correctly."),
            Answer(question_id="issues", value=["too_vague"], target=Target(message_id="m4")),
            Answer(question_id="helpfulness", value=4, target=Target(response_id="r3")),
        ],
        responses=[
            EditedResponse(
                response_id="r3",
                content=[Part(kind="text", value="It looks content and relaxed.")],
            ),
            EditedResponse(
                response_id="r5",
                prompt_id="p2",
                content=[Part(kind="text", value="Yes: slow blinks and a loose posture.")],
                model_config_name="annotator",
                added=True,
            ),
        ],
    )
    label = ExportLabel(
        label_id="l1",
        author=Person(id="user-ann", email="ann@example.com", name="Ann"),
        status="APPROVED",
        snapshot=snapshot,
        started_at=_at(0),
        submitted_at=_at(4),
        approved_at=_at(9),
        reviews=[
            Review(
                action="APPROVE",
                reviewer=Person(id="user-rev", email="rev@example.com", name="Rev"),
                at=_at(9),
                comment="Good edit.",
            )
        ],
        benchmark_score=0.9,
    )
    return ExportItem(
        project_id="proj-1",
        task_id="task-1",
        data_row_id="row-1",
        global_key="cats/0001",
        batch_id="batch-1",
        workflow_status="DONE",
        row=row,
        questions=questions,
        labels=[label],
        project_name="Cat chat preferences",
        external_id="cat-0001",
        metadata={"source": "demo"},
    )


def example_audit_event() -> RecordedEvent:
    """A stored ``ResponseCrowned`` event as the log returns it."""
    event = ResponseCrowned(label_id="l1", prompt_id="p1", response_id="r1")
    return RecordedEvent(
        global_position=1042,
        tx_id=977,
        stream_name="label-l1",
        stream_position=3,
        event_type="ResponseCrowned",
        schema_version=ResponseCrowned.schema_version,
        org_id="org-1",
        event_id="0195518a-8c2e-7a4b-9f00-000000000042",
        data=msgspec.Raw(encode_event(event)),
        metadata=Metadata(
            actor_id="user-ann",
            actor_role="ANNOTATOR",
            correlation_id="corr-7",
            causation_id="cmd-7",
            user_agent="preflog-web/1.0",
            project_id="proj-1",
            task_id="task-1",
            label_id="l1",
        ),
        recorded_at=_at(2),
    )


def example_records() -> dict[str, Any]:
    """Every format's first example record, as JSON-ready builtins, by format name."""
    item = example_item()
    options = ExportOptions()
    examples = {
        name: msgspec.json.decode(msgspec.json.encode(produce(item, options)[0]))
        for name, produce in ITEM_FORMATS.items()
    }
    examples["audit"] = msgspec.json.decode(
        msgspec.json.encode(audit_record(example_audit_event()))
    )
    return examples


def example_file(record: Any) -> bytes:
    """The bytes of an ``.example.json`` file: the record indented by two, newline-ended."""
    return msgspec.json.format(msgspec.json.encode(record), indent=2) + b"\n"
