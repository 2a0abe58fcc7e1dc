"""Undo/redo as a state machine, checked against the classic two-stack model.

The domain keeps every action in the log with an ``undone`` set and replays the rest in log
order; the model keeps a ``done`` stack and a ``redo`` stack. For any sequence of actions,
undos and redos they must agree on the effective content and on canUndo/canRedo. The stored
form (what the read model keeps) must round-trip.
"""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.errors import Invalid
from preflog_contracts.events.labels import LabelStarted, Target
from preflog_contracts.events.projects import Option, ProjectSettings, Question
from preflog_labeling.domain import label_commands as decide
from preflog_labeling.domain import label_content
from preflog_labeling.domain.label import LabelState, evolve
from preflog_labeling.domain.label_content import effective_content, fold_content
from preflog_labeling.domain.project import ProjectState

ROW = DataRow(
    messages=[Message(id="m1", role="user", content=[Part(kind="text", value="q")])],
    prompts=[
        PromptPoint(
            id="p",
            after_message_id="m1",
            responses=[
                Response(id=f"r{i}", title=f"R{i}", content=[Part(kind="text", value=str(i))]) for i in range(3)
            ],
        )
    ],
)
PROJECT = ProjectState(
    project_id="proj",
    exists=True,
    ontology_version=1,
    settings=ProjectSettings(),
    questions=(
        Question(id="q1", title="q1", kind="RADIO", options=[Option(value="a"), Option(value="b")]),
        Question(id="q2", title="q2", kind="YES_NO"),
    ),
)

op = st.one_of(
    st.tuples(st.just("answer1"), st.sampled_from(["a", "b"])),
    st.tuples(st.just("answer2"), st.booleans()),
    st.tuples(st.just("crown"), st.sampled_from(["r0", "r1", "r2"])),
    st.tuples(st.just("undo"), st.none()),
    st.tuples(st.just("redo"), st.none()),
)


def started() -> LabelState:
    event = LabelStarted(
        label_id="l", task_id="t", project_id="proj", data_row_id="d", author_id="u", ontology_version=1
    )
    return msgspec.structs.replace(evolve(LabelState(label_id="l"), "e0", event), version=0)


def _dicts(content: object) -> list[dict[object, object]]:
    return [getattr(content, f) for f in ("rankings", "crowns", "answers", "responses")]


def model_content(done: list[tuple[str, object]]) -> dict[str, object]:
    out: dict[str, object] = {}
    for kind, value in done:
        out[kind] = value
    return out


@settings(max_examples=300, deadline=None)
@given(st.lists(op, max_size=40))
def test_domain_agrees_with_two_stack_model(ops: list[tuple[str, object]]) -> None:
    state = started()
    done: list[tuple[str, object]] = []
    redo: list[tuple[str, object]] = []
    for kind, value in ops:
        try:
            if kind == "answer1":
                event = decide.decide_answer(state, PROJECT, ROW, "q1", Target(), value)
            elif kind == "answer2":
                event = decide.decide_answer(state, PROJECT, ROW, "q2", Target(), value)
            elif kind == "crown":
                event = decide.decide_crown(state, ROW, None, str(value))
            elif kind == "undo":
                event = decide.decide_undo(state)
            else:
                event = decide.decide_redo(state)
        except Invalid:
            assert (kind == "undo" and not done) or (kind == "redo" and not redo)
            continue
        if kind == "undo":
            redo.append(done.pop())
        elif kind == "redo":
            done.append(redo.pop())
        else:
            done.append((kind, value))
            redo.clear()
        state = msgspec.structs.replace(
            evolve(state, str(uuid.uuid4()), event, datetime.now(UTC), "u"), version=state.version + 1
        )
        content = effective_content(state)
        # the content each state keeps is the one folded from the start, in the same order
        folded = fold_content(state)
        assert content == folded
        assert [list(d) for d in _dicts(content)] == [list(d) for d in _dicts(folded)]
        got: dict[str, object] = {}
        if ("q1", None, None) in content.answers:
            got["answer1"] = content.answers[("q1", None, None)].value
        if ("q2", None, None) in content.answers:
            got["answer2"] = content.answers[("q2", None, None)].value
        if "p" in content.crowns:
            got["crown"] = content.crowns["p"].response_id
        assert got == model_content(done)
        assert state.can_undo == bool(done) and state.can_redo == bool(redo)


def test_an_action_applies_once_whatever_the_history() -> None:
    # Each state keeps its content: a new action is applied to the previous content instead
    # of replaying the label's whole history (whose cost grew with every action taken).
    state = started()
    for i in range(200):
        event = decide.decide_answer(state, PROJECT, ROW, "q2", Target(), i % 2 == 0)
        state = evolve(state, f"e{i + 1}", event, datetime.now(UTC), "u")
    calls: list[object] = []
    real = label_content._apply
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(label_content, "_apply", lambda *a: (calls.append(a[1]), real(*a))[1])
        event = decide.decide_crown(state, ROW, None, "r1")
        after = evolve(state, "last", event, datetime.now(UTC), "u")
        effective_content(after)
    assert len(calls) == 1
    assert after.content.crowns["p"].response_id == "r1"
    assert after.content == fold_content(after)
