"""Map decoded MAL lines onto a project's ontology and one data row, as ``PreLabel``s.

A classification ``name`` is a question id (an imported Labelbox ontology keeps the
classification name as the id and option values as they are). Radio answers need a
RADIO question, checklists a CHECKLIST, free text a TEXT question; nested
classifications must be follow-ups of the chosen option. ``messageId`` targets a message
(MESSAGE scope) or a response (RESPONSE scope; a response may be named by id or title);
a GLOBAL question takes no ``messageId``. A ``messageEvaluationTask`` becomes a ranking
(``kind="ranking"``), a crown (single selection, ``kind="crown"``) or a selection of
several responses (``kind="selection"``) at the prompt point after ``parentMessageId``.
Anything that does not fit is an error naming the line and the field.
"""

from __future__ import annotations

from collections.abc import Sequence

import msgspec

from preflog_contracts.datarow import DataRow, PromptPoint
from preflog_contracts.events.catalog import PreLabel
from preflog_contracts.events.projects import Question
from preflog_ingest.domain.mal_lines import (
    EVALUATION_FORMATS,
    MalAnswer,
    MalClassification,
    MalLine,
    MalMultiSelection,
    MalRanking,
    MalSingleSelection,
)
from preflog_ingest.domain.results import Rejected
from preflog_ingest.domain.row_errors import (
    IngestErrorCode,
    RowError,
    errors_from_validation,
    join_path,
)
from preflog_ingest.domain.stable_ids import find_response

_ANSWER_KIND = {"radio": "RADIO", "checklist": "CHECKLIST", "text": "TEXT"}


class Target(msgspec.Struct, frozen=True, kw_only=True):
    message_id: str | None = None
    response_id: str | None = None
    prompt_id: str | None = None


def map_prelabel(
    line: MalLine, questions: Sequence[Question], row: DataRow, line_no: int
) -> list[PreLabel] | Rejected:
    """The pre-labels one MAL line contributes to ``row`` under ``questions``, or the
    errors that refuse the whole line. The caller finds ``row`` from ``line.data_row``."""
    errors: list[RowError] = []
    if line.message_evaluation_task is not None:
        prelabels = _evaluation(line, row, errors)
    else:
        prelabels = _classification(line, questions, row, errors)
    if errors:
        return Rejected(line=line_no, errors=errors, global_key=line.data_row.global_key)
    return [msgspec.structs.replace(p, source_id=line.uuid) for p in prelabels]


def _classification(
    line: MalLine, questions: Sequence[Question], row: DataRow, errors: list[RowError]
) -> list[PreLabel]:
    confidence = _confidence(line.confidence, "confidence", errors)
    question = _question(line.name or "", questions, "name", errors)
    if question is None:
        return []
    target = _target(line.message_id, question, row, errors)
    if target is None:
        return []
    top = MalClassification(
        name=question.id, answer=line.answer, answers=line.answers, confidence=confidence
    )
    return _answer(top, question, target, "", errors)


def _answer(
    classification: MalClassification,
    question: Question,
    target: Target,
    path: str,
    errors: list[RowError],
) -> list[PreLabel]:
    answer = classification.answers if classification.answers is not None else classification.answer
    answer_path = join_path(path, "answers" if classification.answers is not None else "answer")
    form = (
        "text"
        if isinstance(answer, str)
        else "radio"
        if isinstance(answer, MalAnswer)
        else "checklist"
    )
    if answer is None:
        errors.append(
            _err(IngestErrorCode.MISSING_FIELD, answer_path, "required field `answer` is missing")
        )
        return []
    if question.kind != _ANSWER_KIND[form]:
        errors.append(
            _err(
                IngestErrorCode.WRONG_KIND,
                answer_path,
                f"a {form} answer does not fit question '{question.id}' of kind {question.kind}",
            )
        )
        return []
    confidence = classification.confidence
    follow_ups: list[PreLabel] = []
    if isinstance(answer, str):
        value: object = answer
    else:
        chosen = [answer] if isinstance(answer, MalAnswer) else answer
        names: list[str] = []
        for i, option_answer in enumerate(chosen):
            option_path = answer_path if isinstance(answer, MalAnswer) else f"{answer_path}[{i}]"
            option = next((o for o in question.options if o.value == option_answer.name), None)
            if option is None:
                errors.append(
                    _err(
                        IngestErrorCode.UNKNOWN_OPTION,
                        f"{option_path}.name",
                        f"'{option_answer.name}' is not an option of question '{question.id}'",
                    )
                )
                continue
            if option.value in names:
                errors.append(
                    _err(
                        IngestErrorCode.DUPLICATE_OPTION,
                        f"{option_path}.name",
                        f"option '{option.value}' is chosen twice",
                    )
                )
                continue
            names.append(option.value)
            own = _confidence(option_answer.confidence, f"{option_path}.confidence", errors)
            if own is not None:
                confidence = own if confidence is None else min(confidence, own)
            for j, nested in enumerate(option_answer.classifications):
                nested_path = f"{option_path}.classifications[{j}]"
                follow_up = _question(nested.name, option.follow_ups, f"{nested_path}.name", errors)
                if follow_up is not None:
                    follow_ups += _answer(nested, follow_up, target, nested_path, errors)
        value = names[0] if isinstance(answer, MalAnswer) and names else names
    confidence = _confidence(confidence, join_path(path, "confidence"), errors)
    prelabel = PreLabel(
        kind="answer",
        question_id=question.id,
        value=value,
        message_id=target.message_id,
        response_id=target.response_id,
        prompt_id=target.prompt_id,
        confidence=confidence,
    )
    return [prelabel, *follow_ups]


def _question(
    name: str, questions: Sequence[Question], path: str, errors: list[RowError]
) -> Question | None:
    question = next((q for q in questions if q.id == name), None)
    if question is None:
        errors.append(
            _err(
                IngestErrorCode.UNKNOWN_QUESTION,
                path,
                f"the ontology has no question '{name}' here",
            )
        )
    return question


def _target(
    message_id: str | None, question: Question, row: DataRow, errors: list[RowError]
) -> Target | None:
    scope = question.scope
    if message_id is None:
        if scope == "GLOBAL":
            return Target()
        errors.append(
            _err(
                IngestErrorCode.WRONG_SCOPE,
                "messageId",
                f"question '{question.id}' is asked per {scope.lower()}; messageId is required",
            )
        )
        return None
    if scope == "GLOBAL":
        errors.append(
            _err(
                IngestErrorCode.WRONG_SCOPE,
                "messageId",
                f"question '{question.id}' is about the whole conversation; it takes no messageId",
            )
        )
        return None
    is_message = any(m.id == message_id for m in row.messages)
    found = find_response(row, message_id)
    if scope == "MESSAGE" and is_message:
        return Target(message_id=message_id)
    if found is not None:
        prompt, response = found
        return Target(response_id=response.id, prompt_id=prompt.id)
    if is_message:
        errors.append(
            _err(
                IngestErrorCode.WRONG_SCOPE,
                "messageId",
                f"question '{question.id}' is asked per response; '{message_id}' is a message",
            )
        )
        return None
    code = (
        IngestErrorCode.UNKNOWN_MESSAGE if scope == "MESSAGE" else IngestErrorCode.UNKNOWN_RESPONSE
    )
    errors.append(
        _err(code, "messageId", f"the data row has no message or response '{message_id}'")
    )
    return None


def _evaluation(line: MalLine, row: DataRow, errors: list[RowError]) -> list[PreLabel]:
    task = line.message_evaluation_task
    assert task is not None
    base = "messageEvaluationTask"
    try:
        data = msgspec.convert(task.data, EVALUATION_FORMATS[task.format], strict=True)
    except msgspec.ValidationError as exc:
        errors.extend(errors_from_validation(exc, f"{base}.data"))
        return []
    prompt = next((p for p in row.prompts if p.after_message_id == data.parent_message_id), None)
    if prompt is None:
        errors.append(
            _err(
                IngestErrorCode.UNKNOWN_MESSAGE,
                f"{base}.data.parentMessageId",
                f"no prompt point follows message '{data.parent_message_id}'",
            )
        )
        return []
    confidence = _confidence(line.confidence, "confidence", errors)
    if isinstance(data, MalRanking):
        ranking: list[tuple[str, int]] = []
        for i, ranked in enumerate(data.ranked_messages):
            response_id = _response_in(
                prompt, ranked.message_id, f"{base}.data.rankedMessages[{i}].messageId", errors
            )
            if response_id is not None:
                ranking.append((response_id, ranked.order))
        orders = sorted(r.order for r in data.ranked_messages)
        if orders != list(range(1, len(orders) + 1)):
            errors.append(
                _err(
                    IngestErrorCode.INVALID_RANKING,
                    f"{base}.data.rankedMessages",
                    f"orders must be 1..{len(orders)}, each once; got {orders}",
                )
            )
        duplicates = {r for r, _ in ranking if [x for x, _ in ranking].count(r) > 1}
        if duplicates:
            errors.append(
                _err(
                    IngestErrorCode.INVALID_RANKING,
                    f"{base}.data.rankedMessages",
                    "a response is ranked twice: " + ", ".join(sorted(duplicates)),
                )
            )
        return [
            PreLabel(kind="ranking", prompt_id=prompt.id, ranking=ranking, confidence=confidence)
        ]
    if isinstance(data, MalSingleSelection):
        response_id = _response_in(prompt, data.message_id, f"{base}.data.messageId", errors)
        return [
            PreLabel(
                kind="crown", prompt_id=prompt.id, response_id=response_id, confidence=confidence
            )
        ]
    assert isinstance(data, MalMultiSelection)
    selected = [
        _response_in(prompt, ref.message_id, f"{base}.data.selectedMessages[{i}].messageId", errors)
        for i, ref in enumerate(data.selected_messages)
    ]
    return [
        PreLabel(
            kind="selection",
            question_id=line.name,
            prompt_id=prompt.id,
            value=[s for s in selected if s is not None],
            confidence=confidence,
        )
    ]


def _response_in(prompt: PromptPoint, ref: str, path: str, errors: list[RowError]) -> str | None:
    for by_title in (False, True):
        for response in prompt.responses:
            if (response.title if by_title else response.id) == ref:
                return response.id
    errors.append(
        _err(
            IngestErrorCode.UNKNOWN_RESPONSE,
            path,
            f"prompt point '{prompt.id}' has no response '{ref}'",
        )
    )
    return None


def _confidence(value: float | None, path: str, errors: list[RowError]) -> float | None:
    if value is not None and not 0.0 <= value <= 1.0:
        errors.append(
            _err(IngestErrorCode.INVALID_VALUE, path, f"confidence {value} is not within 0..1")
        )
        return None
    return value


def _err(code: IngestErrorCode, path: str, message: str) -> RowError:
    return RowError(code=code, path=path, message=message)
