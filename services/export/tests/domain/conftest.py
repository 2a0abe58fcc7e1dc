"""Builders for export items written by hand in tests."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest
from jsonschema import Draft202012Validator

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.events.labels import (
    Crown,
    EditedResponse,
    LabelSnapshot,
    RankEntry,
    Ranking,
)
from preflog_export.domain import ExportItem, ExportLabel, Person

PROTO = Path(__file__).resolve().parents[4] / "proto" / "export"
T0 = datetime(2025, 1, 1, tzinfo=UTC)


def text(value: str) -> list[Part]:
    return [Part(kind="text", value=value)]


def point(prompt_id: str, after: str | None, *responses: tuple[str, str, str]) -> PromptPoint:
    """``responses`` as (id, content, model)."""
    return PromptPoint(
        id=prompt_id,
        after_message_id=after,
        responses=[
            Response(id=rid, title=rid, content=text(content), model_config_name=model)
            for rid, content, model in responses
        ],
    )


def three_responses(prompt_id: str = "p1", after: str | None = "m1") -> PromptPoint:
    return point(
        prompt_id,
        after,
        ("A", "answer a", "alpha"),
        ("B", "answer b", "beta"),
        ("C", "answer c", "gamma"),
    )


def label(
    label_id: str,
    *,
    crowns: dict[str, str] | None = None,
    rankings: dict[str, dict[str, int]] | None = None,
    responses: list[EditedResponse] | None = None,
    status: str = "APPROVED",
    minute: int = 0,
    reference: bool = False,
) -> ExportLabel:
    return ExportLabel(
        label_id=label_id,
        author=Person(id=f"author-{label_id}"),
        status=status,  # type: ignore[arg-type]
        snapshot=LabelSnapshot(
            crowns=[Crown(prompt_id=p, response_id=r) for p, r in (crowns or {}).items()],
            rankings=[
                Ranking(prompt_id=p, ranking=[RankEntry(r, k) for r, k in ranks.items()])
                for p, ranks in (rankings or {}).items()
            ],
            responses=responses or [],
        ),
        submitted_at=T0 + timedelta(minutes=minute),
        is_benchmark_reference=reference,
    )


def item(
    labels: list[ExportLabel],
    prompts: list[PromptPoint] | None = None,
    messages: list[Message] | None = None,
    **fields: Any,
) -> ExportItem:
    return ExportItem(
        project_id="proj",
        task_id="task",
        data_row_id="row",
        global_key="gk",
        batch_id="batch",
        workflow_status="DONE",
        row=DataRow(
            messages=messages
            if messages is not None
            else [Message(id="m1", role="user", content=text("question?"))],
            prompts=prompts if prompts is not None else [three_responses()],
        ),
        labels=labels,
        **fields,
    )


def schema_validator(name: str) -> Draft202012Validator:
    schema = json.loads((PROTO / f"{name}.schema.json").read_text())
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=Draft202012Validator.FORMAT_CHECKER)


@pytest.fixture(scope="session")
def build() -> SimpleNamespace:
    return SimpleNamespace(
        text=text, point=point, three_responses=three_responses, label=label, item=item
    )


@pytest.fixture(scope="session")
def validators() -> dict[str, Draft202012Validator]:
    from preflog_export.domain import FORMAT_NAMES

    return {name: schema_validator(name) for name in FORMAT_NAMES}


@pytest.fixture
def validate(validators: dict[str, Draft202012Validator]) -> Any:
    """``validate(format_name, record)``: encode the record as the service would, decode the
    JSON and check it against ``proto/export/<format>.schema.json``."""
    import msgspec

    def check(name: str, record: Any) -> dict[str, Any]:
        document: dict[str, Any] = json.loads(msgspec.json.encode(record))
        errors = sorted(validators[name].iter_errors(document), key=str)
        assert not errors, f"{name}: " + "; ".join(
            f"{list(e.absolute_path)}: {e.message}" for e in errors[:5]
        )
        return document

    return check
