"""How ids are derived where a source format has none, so the same input always yields
the same ids (pre-labels, exports and re-imports can refer to them).

- Source message ids are kept as they are (Labelbox ``messageId``, v2 message keys,
  Dataloop prompt keys).
- A Labelbox prompt point is named after the message it follows: ``prompt-<message id>``.
  Dataloop prompt points keep the prompt key (``prompt1``), which is also the id of the
  user message they follow; prompt ids and message ids are separate namespaces.
- A Labelbox v1 response id is the slug of its output title: ``"Response A"`` ->
  ``response-a``; lookups also accept the title itself (see ``find_response``).
- A v2 response keeps its model message id; a Dataloop response keeps its annotation id,
  else ``<prompt key>-<n>`` (1-based, in annotation order within that prompt).
"""

from __future__ import annotations

import re

from preflog_contracts.datarow import DataRow, PromptPoint, Response


def prompt_id_after(message_id: str) -> str:
    """The id of the Labelbox prompt point that follows ``message_id``."""
    return f"prompt-{message_id}"


def response_id_from_title(title: str, index: int) -> str:
    """``"Response A"`` -> ``"response-a"``; a title without letters or digits falls back
    to ``output-<index + 1>``."""
    slug = re.sub(r"[\W_]+", "-", title.casefold()).strip("-")
    return slug or f"output-{index + 1}"


def find_response(row: DataRow, ref: str) -> tuple[PromptPoint, Response] | None:
    """The prompt point and response an outside reference names: its id, else its title
    (so ``"Response A"`` and ``"response-a"`` both find the same v1 output)."""
    for by_title in (False, True):
        for prompt in row.prompts:
            for response in prompt.responses:
                if (response.title if by_title else response.id) == ref:
                    return prompt, response
    return None
