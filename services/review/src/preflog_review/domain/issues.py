"""Issues as a pure state machine over the ``issue-<issue_id>`` stream."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Literal

import msgspec

from preflog_contracts.errors import Invalid
from preflog_contracts.events.base import Event
from preflog_contracts.events.projects import Question, all_questions
from preflog_contracts.events.review import IssueCommented, IssueOpened, IssueResolved


class IssueState(msgspec.Struct, kw_only=True):
    issue_id: str
    status: Literal["NONE", "OPEN", "RESOLVED"] = "NONE"
    version: int = -1


_questions = msgspec.json.Decoder(list[Question])


def fold_issue(issue_id: str, events: Iterable[tuple[Event, int]]) -> IssueState:
    """State from ``(event, stream_position)`` in stream order."""
    state = IssueState(issue_id=issue_id)
    for event, position in events:
        state.version = position
        if isinstance(event, IssueOpened):
            state.status = "OPEN"
        elif isinstance(event, IssueResolved):
            state.status = "RESOLVED"
    return state


def _require_body(body: str, field: str = "body") -> None:
    if not body.strip():
        raise Invalid(f"{field} is required", {field: "required"})


def comment(state: IssueState, comment_id: str, body: str) -> list[Event]:
    """IssueCommented; comments are allowed on open and resolved issues alike."""
    _require_body(body)
    return [IssueCommented(issue_id=state.issue_id, comment_id=comment_id, body=body)]


def resolve(state: IssueState, resolution: str) -> list[Event]:
    """IssueResolved; raises ``Invalid`` when the issue is already resolved."""
    if state.status == "RESOLVED":
        raise Invalid("the issue is already resolved", {"issueId": "already RESOLVED"})
    return [IssueResolved(issue_id=state.issue_id, resolution=resolution)]


def check_question(questions_json: str | None, question_id: str | None) -> None:
    """Invalid unless ``question_id`` (when given) is a question of the project's ontology
    (``questions_json``, the project's questions as stored), follow-ups included."""
    if question_id is None:
        return
    questions = _questions.decode(questions_json or "[]")
    if all(q.id != question_id for q in all_questions(questions)):
        raise Invalid(
            f"no question '{question_id}' in the project's ontology",
            {"questionId": "not a question of the project"},
        )
