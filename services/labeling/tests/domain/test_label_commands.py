"""Label decisions: ranks per mode, crowns, edits/additions/deletions, targets, submit."""

from __future__ import annotations

import msgspec
import pytest

from preflog_contracts.datarow import DataRow, Message, Part, PromptPoint, Response
from preflog_contracts.errors import Invalid
from preflog_contracts.events.base import Event
from preflog_contracts.events.catalog import PreLabel
from preflog_contracts.events.labels import LabelStarted, PreLabelsApplied, Target
from preflog_contracts.events.projects import Option, ProjectSettings, Question
from preflog_contracts.rpc.labeling import RankInput
from preflog_labeling.domain import label_commands as decide
from preflog_labeling.domain.label import LabelState, evolve
from preflog_labeling.domain.label_content import effective_content, live_responses
from preflog_labeling.domain.project import ProjectState, required_labels

ROW = DataRow(
    messages=[
        Message(id="m1", role="user", content=[Part(kind="text", value="q")]),
        Message(id="m2", role="user", content=[Part(kind="text", value="q2")]),
    ],
    prompts=[
        PromptPoint(
            id="p1",
            after_message_id="m1",
            responses=[
                Response(id=f"a{i}", title=f"A{i}", content=[Part(kind="text", value=str(i))]) for i in range(3)
            ],
        ),
        PromptPoint(
            id="p2",
            after_message_id="m2",
            responses=[
                Response(id=f"b{i}", title=f"B{i}", content=[Part(kind="text", value=str(i))]) for i in range(2)
            ],
        ),
    ],
)
QUESTIONS = (
    Question(id="g", title="g", kind="RADIO", required=True, options=[Option(value="x"), Option(value="y")]),
    Question(id="m", title="m", kind="TEXT", scope="MESSAGE"),
    Question(id="r", title="r", kind="SCALE", scope="RESPONSE", min=0, max=10, step=1),
)


def project(**settings: object) -> ProjectState:
    return ProjectState(
        project_id="p", exists=True, ontology_version=3, questions=QUESTIONS, settings=ProjectSettings(**settings)
    )  # type: ignore[arg-type]


def label(*events: Event) -> LabelState:
    state = evolve(
        LabelState(label_id="l"),
        "e0",
        LabelStarted(label_id="l", task_id="t", project_id="p", data_row_id="d", author_id="u"),
    )
    for i, e in enumerate(events):
        state = msgspec.structs.replace(evolve(state, f"e{i + 1}", e), version=i + 1)
    return state


def ranks(*pairs: tuple[str, int]) -> list[RankInput]:
    return [RankInput(response_id=r, rank=k) for r, k in pairs]


def test_full_order_needs_a_permutation_of_live_responses() -> None:
    ok = decide.decide_rank(label(), project(), ROW, "p1", ranks(("a2", 1), ("a0", 2), ("a1", 3)))
    assert [e.response_id for e in ok.ranking] == ["a2", "a0", "a1"]
    for bad in [
        ranks(("a0", 1), ("a1", 2)),
        ranks(("a0", 1), ("a1", 1), ("a2", 2)),
        ranks(("a0", 1), ("a1", 2), ("a2", 4)),
        ranks(("a0", 1), ("a1", 2), ("b0", 3)),
        ranks(("a0", 1), ("a0", 2), ("a1", 3)),
    ]:
        with pytest.raises(Invalid):
            decide.decide_rank(label(), project(), ROW, "p1", bad)


def test_scale_mode_allows_ties_in_0_to_3() -> None:
    p = project(rank_mode="SCALE_0_3")
    ok = decide.decide_rank(label(), p, ROW, "p1", ranks(("a0", 3), ("a1", 3), ("a2", 0)))
    assert [e.rank for e in ok.ranking] == [3, 3, 0]
    for bad in [ranks(("a0", 4)), ranks(("a0", -1)), [], ranks(("a0", 1), ("a0", 2))]:
        with pytest.raises(Invalid):
            decide.decide_rank(label(), p, ROW, "p1", bad)


def test_prompt_must_be_named_when_there_are_several() -> None:
    with pytest.raises(Invalid) as err:
        decide.decide_rank(label(), project(), ROW, None, ranks(("a0", 1)))
    assert "prompt_id" in err.value.fields
    crown = decide.decide_crown(label(), ROW, None, "b1")  # the response names its prompt
    assert crown.prompt_id == "p2"


def test_deleted_response_cannot_be_crowned_ranked_or_edited() -> None:
    p = project(allow_response_delete=True, allow_response_edit=True)
    deleted = decide.decide_delete(label(), p, ROW, "a1")
    state = label(deleted)
    assert live_responses(ROW, effective_content(state), "p1") == ["a0", "a2"]
    with pytest.raises(Invalid, match="deleted"):
        decide.decide_crown(state, ROW, "p1", "a1")
    with pytest.raises(Invalid):
        decide.decide_edit(state, p, ROW, "a1", "new")
    with pytest.raises(Invalid):
        decide.decide_delete(state, p, ROW, "a1")
    decide.decide_rank(state, p, ROW, "p1", ranks(("a0", 2), ("a2", 1)))


def test_deleting_drops_crown_and_ranking_that_name_the_response() -> None:
    p = project(allow_response_delete=True)
    state = label(decide.decide_crown(label(), ROW, "p1", "a1"))
    state = label(
        *[a.event for a in state.actions],
        decide.decide_rank(state, p, ROW, "p1", ranks(("a0", 1), ("a1", 2), ("a2", 3))),
    )
    state = label(*[a.event for a in state.actions], decide.decide_delete(state, p, ROW, "a1"))
    content = effective_content(state)
    assert content.crowns == {} and content.rankings == {}


def test_settings_gate_edit_add_delete() -> None:
    for call in (
        lambda p: decide.decide_edit(label(), p, ROW, "a0", "x"),
        lambda p: decide.decide_delete(label(), p, ROW, "a0"),
        lambda p: decide.decide_add(
            label(),
            p,
            ROW,
            response_id="n",
            prompt_id="p1",
            text="x",
            model_config_name="",
            media_url=None,
            mimetype=None,
        ),
    ):
        with pytest.raises(Invalid):
            call(project())
        call(project(allow_response_edit=True, allow_response_add=True, allow_response_delete=True))


def test_added_responses_join_their_prompt_and_media_urls_are_streamed() -> None:
    p = project(allow_response_add=True)
    added = decide.decide_add(
        label(),
        p,
        ROW,
        response_id="n1",
        prompt_id="p2",
        text="",
        model_config_name="me",
        media_url="https://x.example/a.mp3",
        mimetype="audio/mpeg",
    )
    assert added.streamed and added.content[0].kind == "audio"
    assert live_responses(ROW, effective_content(label(added)), "p2") == ["b0", "b1", "n1"]
    with pytest.raises(Invalid):
        decide.decide_add(
            label(),
            p,
            ROW,
            response_id="n2",
            prompt_id="p2",
            text="",
            model_config_name="",
            media_url="file:///etc/passwd",
            mimetype=None,
        )


@pytest.mark.parametrize(
    ("qid", "target", "ok"),
    [
        ("g", Target(), True),
        ("g", Target(message_id="m1"), False),
        ("m", Target(message_id="m2"), True),
        ("m", Target(), False),
        ("m", Target(message_id="zz"), False),
        ("m", Target(response_id="a0"), False),
        ("r", Target(response_id="b1"), True),
        ("r", Target(message_id="m1"), False),
        ("r", Target(response_id="q"), False),
    ],
)
def test_answer_targets_follow_the_question_scope(qid: str, target: Target, ok: bool) -> None:
    value = {"g": "x", "m": "text", "r": 7}[qid]
    if ok:
        event = decide.decide_answer(label(), project(), ROW, qid, target, value)
        assert event.ontology_version == 3
    else:
        with pytest.raises(Invalid):
            decide.decide_answer(label(), project(), ROW, qid, target, value)


def test_submit_needs_required_answers_and_crowns_when_asked() -> None:
    p = project(crown_required=True)
    with pytest.raises(Invalid) as err:
        decide.decide_submit(label(), p, ROW, None)
    assert set(err.value.fields) == {"crowns.p1", "crowns.p2", "answers.g"}
    events = [
        decide.decide_answer(label(), p, ROW, "g", Target(), "y"),
        decide.decide_crown(label(), ROW, "p1", "a0"),
        decide.decide_crown(label(), ROW, "p2", "b0"),
    ]
    submitted = decide.decide_submit(label(*events), p, ROW, None)
    assert {c.response_id for c in submitted.snapshot.crowns} == {"a0", "b0"}
    after = label(*events, submitted)
    assert after.status == "SUBMITTED"
    with pytest.raises(Invalid):
        decide.decide_crown(after, ROW, "p1", "a1")


def test_prelabels_are_marked_until_touched_and_kept_on_submit() -> None:
    seeded = PreLabelsApplied(
        label_id="l",
        prelabels=[
            msgspec.to_builtins(PreLabel(kind="answer", question_id="g", value="x", confidence=0.4)),
            msgspec.to_builtins(PreLabel(kind="ranking", prompt_id="p2", ranking=[("b1", 1), ("b0", 2)])),
        ],
    )
    state = label(seeded)
    content = effective_content(state)
    assert content.prelabels_pending == 2 and content.answers[("g", None, None)].mark.confidence == 0.4
    state = label(seeded, decide.decide_answer(state, project(), ROW, "g", Target(), "y"))
    content = effective_content(state)
    assert content.answers[("g", None, None)].mark is None and content.prelabels_pending == 1
    snap = decide.decide_submit(state, project(), ROW, None).snapshot
    assert snap.rankings[0].prompt_id == "p2" and snap.answers[0].value == "y"


def test_consensus_coverage_is_stable_per_row() -> None:
    p = ProjectState(
        project_id="p", exists=True, quality_mode="CONSENSUS", consensus_label_count=3, consensus_coverage=0.3
    )
    needs = [required_labels(p, f"row-{i}") for i in range(1000)]
    assert set(needs) == {1, 3} and 200 < needs.count(3) < 400
    assert needs == [required_labels(p, f"row-{i}") for i in range(1000)]
    assert required_labels(msgspec.structs.replace(p, quality_mode="BENCHMARK"), "row-1") == 1
