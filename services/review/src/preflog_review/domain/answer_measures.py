"""How two answers to the same question compare, per question kind.

Agreement (1 = same answer, 0 = as far apart as possible) drives consensus and benchmark
scores; distance drives Krippendorff's alpha. TEXT answers are free prose and take part in
neither.

| kind            | comparable value | agreement                 | alpha distance   |
|-----------------|------------------|---------------------------|------------------|
| RADIO, YES_NO   | the option/bool  | 1 if equal else 0         | nominal (0/1)    |
| CHECKLIST       | frozenset        | Jaccard |A∩B|/|A∪B|       | 1 - Jaccard      |
| SCALE           | float            | 1 - |a-b| / (max - min)  | interval (a-b)^2 |

Two empty checklists agree fully (Jaccard 1). A SCALE question without both ``min`` and
``max`` has no range to normalise by and is left out of agreement (it still has an alpha).
"""

from __future__ import annotations

from collections.abc import Hashable, Iterable, Sequence

from preflog_contracts.events.projects import Question

NOMINAL_KINDS = frozenset({"RADIO", "YES_NO"})
COMPARABLE_KINDS = frozenset({"RADIO", "YES_NO", "CHECKLIST", "SCALE"})


def comparable_questions(questions: Sequence[Question]) -> dict[str, Question]:
    """Questions by id, follow-ups included, keeping only kinds that can agree (no TEXT)."""
    found: dict[str, Question] = {}

    def visit(items: Iterable[Question]) -> None:
        for question in items:
            if question.kind in COMPARABLE_KINDS:
                found.setdefault(question.id, question)
            for option in question.options:
                visit(option.follow_ups)

    visit(questions)
    return found


def comparable_value(question: Question, value: object) -> Hashable | None:
    """The answer in a form that can be compared, or None if it does not fit the kind.

    A malformed answer (a number for a RADIO, a string in a SCALE) is skipped rather than
    counted as disagreement: it says nothing about how two annotators judged.
    """
    kind = question.kind
    if kind == "RADIO":
        return value if isinstance(value, str) else None
    if kind == "YES_NO":
        return value if isinstance(value, bool) else None
    if kind == "CHECKLIST":
        if isinstance(value, list) and all(isinstance(item, str) for item in value):
            return frozenset(value)
        return None
    if kind == "SCALE":
        if isinstance(value, int | float) and not isinstance(value, bool):
            return float(value)
        return None
    return None


def answer_agreement(question: Question, a: Hashable, b: Hashable) -> float | None:
    """Agreement in [0, 1] of two comparable values (see the module table).

    None for a SCALE question without both ``min`` and ``max``.
    """
    if question.kind == "CHECKLIST":
        return _jaccard(a, b)
    if question.kind == "SCALE":
        if question.min is None or question.max is None:
            return None
        assert isinstance(a, float) and isinstance(b, float)
        span = question.max - question.min
        if span <= 0:
            return 1.0 if a == b else 0.0
        return min(1.0, max(0.0, 1.0 - abs(a - b) / span))
    return 1.0 if a == b else 0.0


def answer_distance(kind: str, a: Hashable, b: Hashable) -> float:
    """Krippendorff's difference function for the question kind (see the module table)."""
    if kind == "CHECKLIST":
        return 1.0 - _jaccard(a, b)
    if kind == "SCALE":
        assert isinstance(a, float) and isinstance(b, float)
        return (a - b) ** 2
    return 0.0 if a == b else 1.0


def _jaccard(a: Hashable, b: Hashable) -> float:
    assert isinstance(a, frozenset) and isinstance(b, frozenset)
    union = a | b
    if not union:
        return 1.0
    return len(a & b) / len(union)
