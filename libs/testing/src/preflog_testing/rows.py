"""Data rows for tests and benchmarks."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any


def labelbox_conversation(
    global_key: str, question: str, outputs: Sequence[tuple[str, str]]
) -> dict[str, Any]:
    """A Labelbox v1 conversation import row: one user message and a model output per
    ``(model config name, content)``, titled Response A, B, ..."""
    return {
        "row_data": {
            "type": "application/vnd.labelbox.conversational",
            "version": 1,
            "messages": [
                {
                    "messageId": "m0",
                    "content": question,
                    "user": {"userId": "u", "name": "User"},
                    "align": "right",
                    "canLabel": True,
                },
            ],
            "modelOutputs": [
                {"title": f"Response {chr(65 + j)}", "content": content, "modelConfigName": model}
                for j, (model, content) in enumerate(outputs)
            ],
        },
        "global_key": global_key,
    }
