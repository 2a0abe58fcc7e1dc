"""The ontology as the domain checks it: native questions, their ids and answer rules."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from preflog_contracts.errors import Invalid
from preflog_contracts.events.projects import Question, all_questions

KINDS = ("RADIO", "CHECKLIST", "TEXT", "SCALE", "YES_NO")
SCOPES = ("GLOBAL", "MESSAGE", "RESPONSE")
MAX_TEXT_ANSWER = 10_000


def find_question(questions: Sequence[Question], question_id: str) -> Question | None:
    return next((q for q in all_questions(questions) if q.id == question_id), None)


def check_questions(questions: Sequence[Question], path: str = "ontology.questions") -> None:
    """Raise Invalid naming every problem: unknown kind or scope, duplicate ids, options
    on kinds without options, SCALE without a sane min/max/step."""
    errors: dict[str, str] = {}
    seen: set[str] = set()

    def visit(qs: Sequence[Question], where: str) -> None:
        for i, q in enumerate(qs):
            at = f"{where}[{i}]"
            if not q.id:
                errors[f"{at}.id"] = "a question needs an id"
            elif q.id in seen:
                errors[f"{at}.id"] = f"question id '{q.id}' is used twice"
            seen.add(q.id)
            if q.kind not in KINDS:
                errors[f"{at}.kind"] = f"kind must be one of {', '.join(KINDS)}"
            if q.scope not in SCOPES:
                errors[f"{at}.scope"] = f"scope must be one of {', '.join(SCOPES)}"
            if q.kind in ("RADIO", "CHECKLIST"):
                if not q.options:
                    errors[f"{at}.options"] = f"a {q.kind} question needs options"
                values = [o.value for o in q.options]
                if len(set(values)) != len(values):
                    errors[f"{at}.options"] = "option values must be unique"
            elif q.options and q.kind in KINDS:
                errors[f"{at}.options"] = f"a {q.kind} question has no options"
            if q.kind == "SCALE":
                lo, hi, step = q.min, q.max, q.step
                if lo is None or hi is None or lo >= hi:
                    errors[f"{at}.min"] = "a SCALE question needs min < max"
                if step is not None and step <= 0:
                    errors[f"{at}.step"] = "step must be positive"
            for j, option in enumerate(q.options):
                visit(option.follow_ups, f"{at}.options[{j}].follow_ups")

    visit(questions, path)
    if errors:
        raise Invalid("the ontology is not valid", errors)


def check_answer(question: Question, value: Any, path: str = "answer") -> Any:
    """The answer as stored, or Invalid when it is of the wrong kind for ``question``."""
    kind = question.kind
    options = [o.value for o in question.options]
    if kind == "RADIO":
        if not isinstance(value, str):
            raise Invalid("a RADIO answer is one option value", {path: "expected a string"})
        if value not in options:
            raise Invalid("unknown option", {path: f"'{value}' is not an option of '{question.id}'"})
        return value
    if kind == "CHECKLIST":
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            raise Invalid(
                "a CHECKLIST answer is a list of option values",
                {path: "expected a list of strings"},
            )
        for i, v in enumerate(value):
            if v not in options:
                raise Invalid("unknown option", {f"{path}[{i}]": f"'{v}' is not an option of '{question.id}'"})
        if len(set(value)) != len(value):
            raise Invalid("an option is chosen twice", {path: "options must be unique"})
        return list(value)
    if kind == "TEXT":
        if not isinstance(value, str):
            raise Invalid("a TEXT answer is a string", {path: "expected a string"})
        if len(value) > MAX_TEXT_ANSWER:
            raise Invalid("answer too long", {path: f"at most {MAX_TEXT_ANSWER} characters"})
        return value
    if kind == "YES_NO":
        if not isinstance(value, bool):
            raise Invalid("a YES_NO answer is true or false", {path: "expected a boolean"})
        return value
    if kind == "SCALE":
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            raise Invalid("a SCALE answer is a number", {path: "expected a number"})
        lo = question.min if question.min is not None else -math.inf
        hi = question.max if question.max is not None else math.inf
        if not lo <= value <= hi:
            raise Invalid("answer out of range", {path: f"must be between {question.min} and {question.max}"})
        if question.step and question.min is not None:
            steps = (value - question.min) / question.step
            if abs(steps - round(steps)) > 1e-9:
                raise Invalid(
                    "answer off the scale's steps",
                    {path: f"must be {question.min} plus a multiple of {question.step}"},
                )
        return value
    raise Invalid("the question has an unknown kind", {path: kind})
