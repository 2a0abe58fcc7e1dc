"""Micro-benchmark of the export formats (not a test).

Builds N generated items (one approved label each; a four-message chat, one prompt point
with three responses; half crowned, half ranked, every fifth with an edit), then times
``format(item) -> records -> msgspec.json encode as NDJSON lines`` per format on one core.
Prints one JSON line per measurement: {"bench", "value", "unit"}.

    uv run python services/export/bench/formats_bench.py [--items 20000]
"""

from __future__ import annotations

import argparse
import sys
import time
from datetime import UTC, datetime, timedelta

import msgspec

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.events.labels import (
    Crown,
    EditedResponse,
    LabelSnapshot,
    RankEntry,
    Ranking,
)
from preflog_export.domain import ITEM_FORMATS, ExportItem, ExportLabel, ExportOptions, Person

T0 = datetime(2025, 1, 1, tzinfo=UTC)
WORDS = "the quick brown fox jumps over the lazy dog while models argue about recursion".split()


def sentence(seed: int, words: int) -> str:
    return " ".join(WORDS[(seed * 7 + i) % len(WORDS)] for i in range(words))


def generated_item(i: int) -> ExportItem:
    messages = [
        Message(id="m1", role="system", content=[Part(kind="text", value="Be helpful.")]),
        Message(id="m2", role="user", content=[Part(kind="text", value=sentence(i, 30))]),
        Message(
            id="m3", role="assistant", content=[Part(kind="markdown", value=sentence(i + 1, 60))]
        ),
        Message(id="m4", role="user", content=[Part(kind="text", value=sentence(i + 2, 20))]),
    ]
    responses = [
        Response(
            id=f"r{k}",
            title=f"Response {k}",
            content=[Part(kind="markdown", value=sentence(i + k, 120))],
            model_config_name=f"model-{k}",
        )
        for k in range(3)
    ]
    crowned = i % 2 == 0
    snapshot = LabelSnapshot(
        crowns=[Crown(prompt_id="p1", response_id=f"r{i % 3}")] if crowned else [],
        rankings=[]
        if crowned
        else [
            Ranking(prompt_id="p1", ranking=[RankEntry(f"r{k}", (k + i) % 3 + 1) for k in range(3)])
        ],
        responses=[EditedResponse(response_id="r1", content=[Part(kind="text", value="edited")])]
        if i % 5 == 0
        else [],
    )
    label = ExportLabel(
        label_id=f"label-{i}",
        author=Person(id=f"user-{i % 50}"),
        status="APPROVED",
        snapshot=snapshot,
        submitted_at=T0 + timedelta(seconds=i),
        approved_at=T0 + timedelta(seconds=i + 60),
    )
    return ExportItem(
        project_id="proj",
        task_id=f"task-{i}",
        data_row_id=f"row-{i}",
        global_key=f"gk-{i}",
        batch_id="batch",
        workflow_status="DONE",
        row=DataRow(
            messages=messages,
            prompts=[PromptPoint(id="p1", after_message_id="m4", responses=responses)],
        ),
        labels=[label],
    )


def run(count: int) -> None:
    items = [generated_item(i) for i in range(count)]
    options = ExportOptions()
    encoder = msgspec.json.Encoder()
    buffer = bytearray()
    for name, produce in ITEM_FORMATS.items():
        records = 0
        started = time.perf_counter()
        for item in items:
            for record in produce(item, options):
                encoder.encode_into(record, buffer, -1)
                buffer.extend(b"\n")
                records += 1
            if len(buffer) > 1 << 20:
                buffer.clear()
        elapsed = time.perf_counter() - started
        buffer.clear()
        emit(f"export.{name}.records_per_s", records / elapsed, "records/s")
        emit(f"export.{name}.items_per_s", count / elapsed, "items/s")
    # What the service pays to read the model back: decoding stored items.
    stored = [encoder.encode(item) for item in items]
    decoder = msgspec.json.Decoder(ExportItem)
    started = time.perf_counter()
    for blob in stored:
        decoder.decode(blob)
    emit("export.item_decode.items_per_s", count / (time.perf_counter() - started), "items/s")


def emit(bench: str, value: float, unit: str) -> None:
    sys.stdout.write(
        msgspec.json.encode({"bench": bench, "value": round(value, 1), "unit": unit}).decode()
        + "\n"
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--items", type=int, default=20_000)
    run(parser.parse_args().items)
