"""Decisions on a label: state + command -> events, or Invalid naming the field.

Every function is pure. The caller has already checked the role and that the caller may act
on the task (see :mod:`task_rules`); these check the content rules of issue 4.
"""

from __future__ import annotations

from datetime import datetime
from urllib.parse import urlsplit

from preflog_contracts.datarow import DataRow, Part
from preflog_contracts.errors import Invalid
from preflog_contracts.events.base import Event
from preflog_contracts.events.labels import (
    ActionRedone,
    ActionUndone,
    CommentAdded,
    LabelSubmitted,
    QuestionAnswered,
    RankEntry,
    ResponseAdded,
    ResponseCrowned,
    ResponseDeleted,
    ResponseEdited,
    ResponsesRanked,
    Target,
)
from preflog_contracts.events.projects import all_questions
from preflog_contracts.rpc.labeling import RankInput
from preflog_labeling.domain.label import LabelState
from preflog_labeling.domain.label_content import (
    LabelContent,
    ResponseChange,
    effective_content,
    live_responses,
    prompt_of,
    snapshot,
)
from preflog_labeling.domain.ontology import check_answer, find_question
from preflog_labeling.domain.project import ProjectState

MAX_CONTENT = 100_000
MAX_COMMENT = 10_000
EDITABLE = ("DRAFT", "REJECTED")


def ensure_editable(state: LabelState) -> None:
    if state.status not in EDITABLE:
        raise Invalid(
            f"the label is {state.status.lower()}; it cannot change now",
            {"task_id": "label already submitted"},
        )


def _prompt(row: DataRow, prompt_id: str | None) -> str:
    if prompt_id is None:
        if len(row.prompts) != 1:
            raise Invalid(
                "name the prompt point",
                {"prompt_id": "required: the row has several prompt points"},
            )
        return row.prompts[0].id
    if not any(p.id == prompt_id for p in row.prompts):
        raise Invalid(
            "unknown prompt point",
            {"prompt_id": f"'{prompt_id}' is not a prompt point of this row"},
        )
    return prompt_id


def decide_rank(
    state: LabelState,
    project: ProjectState,
    row: DataRow,
    prompt_id: str | None,
    ranking: list[RankInput],
) -> ResponsesRanked:
    """FULL_ORDER: a permutation 1..N of the prompt's live responses. SCALE_0_3: scores 0..3
    (ties allowed) for some or all of them, each response once."""
    ensure_editable(state)
    pid = _prompt(row, prompt_id)
    content = effective_content(state)
    live = live_responses(row, content, pid)
    ids = [r.response_id for r in ranking]
    for i, rid in enumerate(ids):
        if rid not in live:
            deleted = content.responses.get(rid, ResponseChange()).deleted
            reason = "was deleted" if deleted else "is not a response of this prompt point"
            raise Invalid("unknown response", {f"ranking[{i}].response_id": f"'{rid}' {reason}"})
    if len(set(ids)) != len(ids):
        raise Invalid("a response is ranked twice", {"ranking": "each response at most once"})
    ranks = [r.rank for r in ranking]
    if project.settings.rank_mode == "SCALE_0_3":
        if not ranking:
            raise Invalid("empty ranking", {"ranking": "score at least one response"})
        for i, rank in enumerate(ranks):
            if not 0 <= rank <= 3:
                raise Invalid("rank outside the scale", {f"ranking[{i}].rank": "must be 0..3"})
    else:
        if set(ids) != set(live):
            raise Invalid("rank every response", {"ranking": f"FULL_ORDER ranks all {len(live)} responses"})
        if sorted(ranks) != list(range(1, len(live) + 1)):
            raise Invalid("ranks must be 1..N without ties", {"ranking": f"a permutation of 1..{len(live)}"})
    return ResponsesRanked(
        label_id=state.label_id,
        prompt_id=pid,
        ranking=[RankEntry(r.response_id, r.rank) for r in ranking],
    )


def decide_crown(state: LabelState, row: DataRow, prompt_id: str | None, response_id: str) -> ResponseCrowned:
    ensure_editable(state)
    content = effective_content(state)
    pid = prompt_id if prompt_id is not None else prompt_of(row, content, response_id)
    pid = _prompt(row, pid)
    if response_id not in live_responses(row, content, pid):
        deleted = content.responses.get(response_id, ResponseChange()).deleted
        reason = "was deleted and cannot be crowned" if deleted else "is not a response of this prompt point"
        raise Invalid(f"cannot crown this response: it {reason}", {"response_id": f"'{response_id}' {reason}"})
    return ResponseCrowned(label_id=state.label_id, prompt_id=pid, response_id=response_id)


def _live_response(row: DataRow, content: LabelContent, response_id: str) -> str:
    pid = prompt_of(row, content, response_id)
    if pid is None:
        raise Invalid("unknown response", {"response_id": f"'{response_id}' is not a response of this row"})
    if content.responses.get(response_id, ResponseChange()).deleted:
        raise Invalid("the response was deleted", {"response_id": f"'{response_id}' was deleted"})
    return pid


def _text_parts(text: str, path: str) -> list[Part]:
    if not text.strip():
        raise Invalid("content is empty", {path: "required"})
    if len(text) > MAX_CONTENT:
        raise Invalid("content too long", {path: f"at most {MAX_CONTENT} characters"})
    return [Part(kind="markdown", value=text)]


def decide_edit(state: LabelState, project: ProjectState, row: DataRow, response_id: str, text: str) -> ResponseEdited:
    if not project.settings.allow_response_edit:
        raise Invalid("this project does not allow editing responses", {"response_id": "editing is off"})
    ensure_editable(state)
    _live_response(row, effective_content(state), response_id)
    return ResponseEdited(label_id=state.label_id, response_id=response_id, content=_text_parts(text, "content"))


_MEDIA_KINDS = {"image": "image", "audio": "audio", "video": "video"}


def decide_add(
    state: LabelState,
    project: ProjectState,
    row: DataRow,
    *,
    response_id: str,
    prompt_id: str | None,
    text: str,
    model_config_name: str,
    media_url: str | None,
    mimetype: str | None,
) -> ResponseAdded:
    """A new response at a prompt point: text, or a http(s) URL to media the client streams."""
    if not project.settings.allow_response_add:
        raise Invalid("this project does not allow adding responses", {"content": "adding is off"})
    ensure_editable(state)
    pid = _prompt(row, prompt_id)
    if media_url is not None:
        parts = urlsplit(media_url)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise Invalid("a media URL must be http or https", {"media_url": "expected http(s)://..."})
        kind = _MEDIA_KINDS.get((mimetype or "").split("/", 1)[0], "url")
        content = [Part(kind=kind, value=media_url, mimetype=mimetype)]  # type: ignore[arg-type]
        if text.strip():
            content.insert(0, Part(kind="markdown", value=text))
    else:
        content = _text_parts(text, "content")
    return ResponseAdded(
        label_id=state.label_id,
        prompt_id=pid,
        response_id=response_id,
        content=content,
        model_config_name=model_config_name,
        streamed=media_url is not None,
    )


def decide_delete(state: LabelState, project: ProjectState, row: DataRow, response_id: str) -> ResponseDeleted:
    if not project.settings.allow_response_delete:
        raise Invalid("this project does not allow deleting responses", {"response_id": "deleting is off"})
    ensure_editable(state)
    _live_response(row, effective_content(state), response_id)
    return ResponseDeleted(label_id=state.label_id, response_id=response_id)


def _check_target(row: DataRow, content: LabelContent, scope: str, target: Target) -> None:
    if scope == "GLOBAL":
        if target.message_id is not None or target.response_id is not None:
            raise Invalid("this question is about the whole conversation", {"target": "must be empty"})
    elif scope == "MESSAGE":
        if target.message_id is None or target.response_id is not None:
            raise Invalid(
                "this question is asked per message",
                {"target.message_id": "required (and no response_id)"},
            )
        if not any(m.id == target.message_id for m in row.messages):
            raise Invalid(
                "unknown message",
                {"target.message_id": f"'{target.message_id}' is not a message of this row"},
            )
    else:
        if target.response_id is None or target.message_id is not None:
            raise Invalid(
                "this question is asked per response",
                {"target.response_id": "required (and no message_id)"},
            )
        try:
            _live_response(row, content, target.response_id)
        except Invalid as exc:
            raise Invalid(exc.message, {"target.response_id": next(iter(exc.fields.values()))}) from None


def decide_answer(
    state: LabelState,
    project: ProjectState,
    row: DataRow,
    question_id: str,
    target: Target,
    value: object,
) -> QuestionAnswered:
    """The answer under the project's current ontology version (kept with the answer)."""
    ensure_editable(state)
    question = find_question(project.questions, question_id)
    if question is None:
        raise Invalid("unknown question", {"question_id": f"'{question_id}' is not in the ontology"})
    _check_target(row, effective_content(state), question.scope, target)
    stored = check_answer(question, value)
    return QuestionAnswered(
        label_id=state.label_id,
        question_id=question_id,
        value=stored,
        target=target,
        ontology_version=project.ontology_version,
    )


def decide_comment(state: LabelState, row: DataRow, comment_id: str, body: str, target: Target) -> CommentAdded:
    ensure_editable(state)
    if not body.strip():
        raise Invalid("a comment needs a body", {"body": "required"})
    if len(body) > MAX_COMMENT:
        raise Invalid("comment too long", {"body": f"at most {MAX_COMMENT} characters"})
    content = effective_content(state)
    if target.message_id is not None and not any(m.id == target.message_id for m in row.messages):
        raise Invalid(
            "unknown message",
            {"target.message_id": f"'{target.message_id}' is not a message of this row"},
        )
    if target.response_id is not None and prompt_of(row, content, target.response_id) is None:
        raise Invalid(
            "unknown response",
            {"target.response_id": f"'{target.response_id}' is not a response of this row"},
        )
    return CommentAdded(label_id=state.label_id, comment_id=comment_id, body=body, target=target)


def decide_undo(state: LabelState) -> ActionUndone:
    ensure_editable(state)
    last = state.last_effective()
    if last is None:
        raise Invalid("nothing to undo", {"task_id": "no action left to undo"})
    return ActionUndone(label_id=state.label_id, event_id=last.event_id)


def decide_redo(state: LabelState) -> ActionRedone:
    ensure_editable(state)
    if not state.redo:
        raise Invalid("nothing to redo", {"task_id": "no undone action to redo"})
    return ActionRedone(label_id=state.label_id, event_id=state.redo[-1])


def decide_submit(state: LabelState, project: ProjectState, row: DataRow, leased_at: datetime | None) -> LabelSubmitted:
    """LabelSubmitted with the label's effective content; refuses a missing crown (when the
    project requires one per prompt point) or an unanswered required question."""
    ensure_editable(state)
    content = effective_content(state)
    errors: dict[str, str] = {}
    if project.settings.crown_required:
        for prompt in row.prompts:
            if prompt.id not in content.crowns:
                errors[f"crowns.{prompt.id}"] = "crown a response at this prompt point"
    answered = {key[0] for key in content.answers}
    for q in all_questions(project.questions):
        if q.required and q.id not in answered and any(t.id == q.id for t in project.questions):
            errors[f"answers.{q.id}"] = "this question is required"
    if errors:
        raise Invalid("the label is not complete", errors)
    return LabelSubmitted(
        label_id=state.label_id,
        task_id=state.task_id,
        project_id=state.project_id,
        data_row_id=state.data_row_id,
        author_id=state.author_id,
        snapshot=snapshot(content),
        leased_at=leased_at,
    )


def is_action(event: Event) -> bool:
    return isinstance(
        event,
        ResponsesRanked
        | ResponseCrowned
        | ResponseEdited
        | ResponseAdded
        | ResponseDeleted
        | QuestionAnswered
        | CommentAdded,
    )
