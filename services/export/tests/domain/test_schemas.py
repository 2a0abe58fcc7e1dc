"""Every record every format produces validates against its JSON Schema in proto/export,
and the example files are exactly what the code generates."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import msgspec
import pytest

from preflog_contracts.datarow import Message, Part
from preflog_contracts.events.labels import Answer, EditedResponse, Target
from preflog_contracts.events.projects import Option, Question
from preflog_export.domain import (
    FORMAT_NAMES,
    ITEM_FORMATS,
    ExportItem,
    ExportOptions,
    Person,
    Review,
    audit_record,
)
from preflog_export.domain.examples import (
    example_audit_event,
    example_file,
    example_item,
    example_records,
)

PROTO = Path(__file__).resolve().parents[4] / "proto" / "export"
STRATEGIES = ["best_vs_rest", "all_pairs", "best_vs_worst"]


def scenario_items(build: SimpleNamespace) -> dict[str, ExportItem]:
    """The hand-built scenarios of test_pairs plus richer labels for native and labelbox."""
    added = EditedResponse(response_id="N", prompt_id="p1", content=build.text("new"), added=True)
    edited = EditedResponse(response_id="A", content=build.text("edited a"))
    deleted = EditedResponse(response_id="C", content=[], deleted=True)
    questions = [
        Question(id="q_radio", title="Best?", kind="RADIO", options=[Option(value="A")]),
        Question(id="q_yes", title="Safe?", kind="YES_NO", scope="RESPONSE"),
        Question(id="q_text", title="Notes", kind="TEXT", scope="MESSAGE"),
    ]
    answers = [
        Answer(question_id="q_radio", value="A"),
        Answer(question_id="q_yes", value=False, target=Target(response_id="B")),
        Answer(question_id="q_text", value="fine", target=Target(message_id="m1")),
        Answer(question_id="gone_from_ontology", value=["x", "y"]),
    ]
    reviewed = build.label("l9", crowns={"p1": "A"}, responses=[edited, added, deleted])
    reviewed = msgspec.structs.replace(
        reviewed,
        snapshot=msgspec.structs.replace(reviewed.snapshot, answers=answers),
        reviews=[
            Review(
                action="REJECT", reviewer=Person(id="rv"), at=reviewed.submitted_at, comment="redo"
            ),
            Review(
                action="APPROVE",
                reviewer=Person(id="rv", email="rv@x.org"),
                at=reviewed.submitted_at,
            ),
        ],
        consensus_score=0.5,
        started_at=reviewed.submitted_at,
    )
    multi = build.item(
        [build.label("l1", crowns={"p1": "A"}, rankings={"p2": {"D": 2, "E": 1}})],
        prompts=[
            build.point("p1", "m1", ("A", "a1", "alpha"), ("B", "b1", "beta")),
            build.point("p2", "m2", ("D", "a2", "alpha"), ("E", "b2", "beta")),
        ],
        messages=[
            Message(id="m0", role="system", content=build.text("sys")),
            Message(id="m1", role="user", content=[Part(kind="image", value="https://x/y.png")]),
            Message(id="m2", role="user", content=build.text("more")),
        ],
    )
    return {
        "crown": build.item([build.label("l1", crowns={"p1": "B"})]),
        "ranking": build.item([build.label("l1", rankings={"p1": {"A": 2, "B": 1, "C": 3}})]),
        "consensus": build.item(
            [
                build.label("l1", crowns={"p1": "A"}),
                build.label("l2", crowns={"p1": "B"}),
                build.label("l3", crowns={"p1": "A"}, reference=True),
            ]
        ),
        "edits": build.item([reviewed], questions=questions, external_id="ext", metadata={"k": 1}),
        "multi_prompt": multi,
        "nothing": build.item([build.label("l1")]),
        "scale": build.item(
            [build.label("l1", rankings={"p1": {"A": 0, "B": 3, "C": 3}})], rank_mode="SCALE_0_3"
        ),
        "example": example_item(),
    }


@pytest.mark.parametrize("strategy", STRATEGIES)
@pytest.mark.parametrize("name", list(ITEM_FORMATS))
def test_every_record_validates(
    build: SimpleNamespace, validate: Any, name: str, strategy: str
) -> None:
    produce = ITEM_FORMATS[name]
    options = ExportOptions(pair_strategy=strategy)  # type: ignore[arg-type]
    produced = 0
    for scenario, item in scenario_items(build).items():
        for record in produce(item, options):
            validate(name, record)
            produced += 1
        if name in ("native", "labelbox"):
            assert len(produce(item, options)) == 1, scenario
    assert produced > 0


def test_audit_record_validates(validate: Any) -> None:
    document = validate("audit", audit_record(example_audit_event()))
    assert "tx_id" not in document
    assert document["data"] == {"label_id": "l1", "prompt_id": "p1", "response_id": "r1"}


def test_schema_refuses_a_broken_dpo_record(validators: Any) -> None:
    record = example_records()["dpo"]
    assert validators["dpo"].is_valid(record)
    assert not validators["dpo"].is_valid({**record, "chosen": [{"role": "user", "content": "x"}]})
    assert not validators["dpo"].is_valid({**record, "margin": 0})
    broken = {key: value for key, value in record.items() if key != "prompt"}
    assert not validators["dpo"].is_valid(broken)


@pytest.mark.parametrize("name", FORMAT_NAMES)
def test_example_file_is_what_the_code_generates(name: str, validators: Any) -> None:
    """Regenerate with PREFLOG_UPDATE_EXAMPLES=1 after an intended format change."""
    record = example_records()[name]
    expected = example_file(record)
    path = PROTO / f"{name}.example.json"
    if os.environ.get("PREFLOG_UPDATE_EXAMPLES") == "1":
        path.write_bytes(expected)
    assert path.read_bytes() == expected, f"{path.name} is stale"
    assert validators[name].is_valid(json.loads(expected))


def test_readme_documents_every_format() -> None:
    readme = (PROTO / "README.md").read_text()
    for name in FORMAT_NAMES:
        assert f"`{name}`" in readme
        assert f"{name}.schema.json" in readme
