"""An annotator's whole path through the service, called over RPC as the gateway will."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import pytest

from preflog_contracts.errors import Conflict, Forbidden, Invalid
from preflog_contracts.events.catalog import PreLabel
from preflog_contracts.events.labels import Target
from preflog_contracts.events.projects import Option, Question
from preflog_contracts.rpc import labeling as api

QUESTIONS = [
    Question(id="best", title="Best?", kind="RADIO", options=[Option(value="A"), Option(value="B")], required=True),
    Question(id="helpful", title="Helpful", kind="SCALE", scope="RESPONSE", min=1, max=5, step=1),
    Question(
        id="issues", title="Issues", kind="CHECKLIST", scope="MESSAGE", options=[Option(value="x"), Option(value="y")]
    ),
    Question(id="safe", title="Safe", kind="YES_NO"),
    Question(id="notes", title="Notes", kind="TEXT"),
]


def ontology() -> api.OntologyInput:
    return api.OntologyInput(questions=QUESTIONS)


async def test_claim_act_undo_redo_submit(service: Any) -> None:
    org = service.org()
    ann = org.user("ann")
    project, _ = await service.project(
        org,
        members={ann.user_id: "ANNOTATOR"},
        rows=2,
        ontology=ontology(),
        settings=api.ProjectSettingsPatch(
            allow_response_edit=True, allow_response_add=True, allow_response_delete=True, crown_required=True
        ),
    )
    task = await service.call(ann, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)
    assert task is not None and task.leased_by == ann.user_id and task.my_label is not None
    assert [r.id for r in task.data_row.prompts[0].responses] == ["p0r0", "p0r1", "p0r2"]
    again = await service.call(ann, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)
    assert again is not None and again.id == task.id  # the lease held is handed back, not a second task

    tid = task.id
    ranking = [api.RankInput(response_id=f"p0r{i}", rank=i + 1) for i in range(3)]
    label = await service.call(
        ann, "rank_responses", api.RankResponsesRequest(task_id=tid, ranking=ranking), api.LabelView
    )
    assert label.rankings[0].ranking[0].response_id == "p0r0" and label.can_undo and not label.can_redo
    label = await service.call(
        ann, "crown_response", api.CrownResponseRequest(task_id=tid, response_id="p0r1"), api.LabelView
    )
    assert label.crowns[0].response_id == "p0r1"
    label = await service.call(ann, "undo", api.TaskRef(task_id=tid), api.LabelView)
    assert label.crowns == [] and label.can_redo
    label = await service.call(ann, "redo", api.TaskRef(task_id=tid), api.LabelView)
    assert label.crowns[0].response_id == "p0r1" and not label.can_redo

    label = await service.call(
        ann, "answer_question", api.AnswerQuestionRequest(task_id=tid, question_id="best", answer="B"), api.LabelView
    )
    label = await service.call(
        ann,
        "answer_question",
        api.AnswerQuestionRequest(task_id=tid, question_id="helpful", answer=4, target=Target(response_id="p0r2")),
        api.LabelView,
    )
    assert {(a.question_id, a.value, a.ontology_version) for a in label.answers} == {
        ("best", "B", 1),
        ("helpful", 4, 1),
    }
    label = await service.call(
        ann, "edit_response", api.EditResponseRequest(task_id=tid, response_id="p0r0", content="better"), api.LabelView
    )
    label = await service.call(
        ann,
        "add_response",
        api.AddResponseRequest(task_id=tid, content="mine", model_config_name="human"),
        api.LabelView,
    )
    added = next(e for e in label.edits if e.added)
    label = await service.call(
        ann,
        "add_response",
        api.AddResponseRequest(task_id=tid, media_url="https://cdn.example/v.mp4", mimetype="video/mp4"),
        api.LabelView,
    )
    streamed = next(e for e in label.edits if e.streamed)
    assert streamed.content[0].kind == "video"
    label = await service.call(
        ann, "delete_response", api.DeleteResponseRequest(task_id=tid, response_id="p0r2"), api.LabelView
    )
    comment = await service.call(
        ann,
        "add_comment",
        api.AddCommentRequest(task_id=tid, body="hm", target=Target(response_id="p0r1")),
        api.CommentView,
    )
    assert comment.author_id == ann.user_id
    # the deleted response took its prompt's ranking with it; rank the live ones again
    live = ["p0r0", "p0r1", added.response_id, streamed.response_id]
    await service.call(
        ann,
        "rank_responses",
        api.RankResponsesRequest(
            task_id=tid, ranking=[api.RankInput(response_id=r, rank=i + 1) for i, r in enumerate(live)]
        ),
        api.LabelView,
    )

    submitted = await service.call(ann, "submit_label", api.TaskRef(task_id=tid), api.LabelView)
    assert submitted.status == "SUBMITTED" and not submitted.can_undo
    with pytest.raises(Invalid):
        await service.call(ann, "crown_response", api.CrownResponseRequest(task_id=tid, response_id="p0r0"))

    await service.settle()
    view = await service.call(ann, "get_task", api.TaskRef(task_id=tid), api.TaskView)
    assert view.status == "IN_REVIEW" and view.my_label is not None and view.my_label.status == "SUBMITTED"
    responses = {r.id: r for r in view.data_row.prompts[0].responses}
    assert responses["p0r0"].edited and responses["p0r0"].original[0].value == "answer 0"
    assert responses["p0r0"].content[0].value == "better"
    assert responses["p0r2"].deleted and responses[added.response_id].added_by == ann.user_id
    assert view.my_label.comments[0].body == "hm"
    proj = await service.call(org.admin, "get_project", api.ProjectRef(project_id=project.id), api.ProjectView)
    assert proj.progress.in_review == 1 and proj.progress.to_label == 1

    history = await service.call(org.admin, "task_history", api.TaskRef(task_id=tid), list[api.HistoryEntry])
    types = [h.type for h in history]
    assert types[0] == "TaskCreated" and "LabelSubmitted" in types and "ActionUndone" in types
    # the task as it was right after the undo: no crown yet, redo possible
    undone_at = next(h.occurred_at for h in history if h.type == "ActionUndone")
    past = await service.call(
        org.admin, "task_as_of", api.TaskAsOfRequest(task_id=tid, at=undone_at), api.TaskView | None
    )
    assert past is not None and past.status == "TO_LABEL" and past.labels[0].crowns == [] and past.labels[0].can_redo


async def test_validation_refusals_leave_no_event(service: Any) -> None:
    org = service.org()
    ann = org.user()
    project, _ = await service.project(org, members={ann.user_id: "ANNOTATOR"}, rows=1, ontology=ontology())
    task = await service.call(ann, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)
    tid = task.id
    before = await service.rt.store.stream_version(f"label-{task.my_label.id}")
    bad: list[tuple[str, Any]] = [
        ("rank_responses", api.RankResponsesRequest(task_id=tid, ranking=[api.RankInput(response_id="p0r0", rank=1)])),
        (
            "rank_responses",
            api.RankResponsesRequest(
                task_id=tid, ranking=[api.RankInput(response_id=f"p0r{i}", rank=1) for i in range(3)]
            ),
        ),
        (
            "rank_responses",
            api.RankResponsesRequest(
                task_id=tid,
                ranking=[
                    api.RankInput(response_id="nope", rank=1),
                    api.RankInput(response_id="p0r1", rank=2),
                    api.RankInput(response_id="p0r2", rank=3),
                ],
            ),
        ),
        ("rank_responses", api.RankResponsesRequest(task_id=tid, prompt_id="p9", ranking=[])),
        ("crown_response", api.CrownResponseRequest(task_id=tid, response_id="nope")),
        ("answer_question", api.AnswerQuestionRequest(task_id=tid, question_id="nope", answer="A")),
        ("answer_question", api.AnswerQuestionRequest(task_id=tid, question_id="best", answer="C")),
        ("answer_question", api.AnswerQuestionRequest(task_id=tid, question_id="best", answer=["A"])),
        (
            "answer_question",
            api.AnswerQuestionRequest(
                task_id=tid, question_id="issues", answer=["x", "z"], target=Target(message_id="m1")
            ),
        ),
        ("answer_question", api.AnswerQuestionRequest(task_id=tid, question_id="issues", answer=["x"])),
        (
            "answer_question",
            api.AnswerQuestionRequest(task_id=tid, question_id="helpful", answer=6, target=Target(response_id="p0r0")),
        ),
        (
            "answer_question",
            api.AnswerQuestionRequest(
                task_id=tid, question_id="helpful", answer=2.5, target=Target(response_id="p0r0")
            ),
        ),
        (
            "answer_question",
            api.AnswerQuestionRequest(task_id=tid, question_id="helpful", answer=2, target=Target(message_id="m1")),
        ),
        ("answer_question", api.AnswerQuestionRequest(task_id=tid, question_id="safe", answer="yes")),
        ("answer_question", api.AnswerQuestionRequest(task_id=tid, question_id="notes", answer=3)),
        (
            "answer_question",
            api.AnswerQuestionRequest(task_id=tid, question_id="best", answer="A", target=Target(message_id="m1")),
        ),
        ("edit_response", api.EditResponseRequest(task_id=tid, response_id="p0r0", content="x")),
        ("add_response", api.AddResponseRequest(task_id=tid, content="x")),
        ("delete_response", api.DeleteResponseRequest(task_id=tid, response_id="p0r0")),
        ("undo", api.TaskRef(task_id=tid)),
        ("redo", api.TaskRef(task_id=tid)),
        ("submit_label", api.TaskRef(task_id=tid)),  # the required question is unanswered
    ]
    for op, body in bad:
        with pytest.raises(Invalid):
            await service.call(ann, op, body)
    assert await service.rt.store.stream_version(f"label-{task.my_label.id}") == before

    other = org.user()
    await service.call(
        org.admin,
        "add_project_member",
        api.AddProjectMemberRequest(project_id=project.id, user_id=other.user_id, role="ANNOTATOR"),
    )
    with pytest.raises(Forbidden):  # not claimed by them
        await service.call(other, "crown_response", api.CrownResponseRequest(task_id=tid, response_id="p0r0"))


async def test_prelabels_seed_a_new_label_marked_until_touched(service: Any) -> None:
    org = service.org()
    ann = org.user()
    project, rows = await service.project(org, members={ann.user_id: "ANNOTATOR"}, rows=1, ontology=ontology())
    await service.import_prelabels(
        org,
        project.id,
        rows[0],
        [
            PreLabel(kind="answer", question_id="best", value="A", confidence=0.7),
            PreLabel(kind="crown", prompt_id="p0", response_id="p0r2"),
        ],
    )
    task = await service.call(ann, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)
    label = task.my_label
    assert label.prelabels_pending == 2
    assert label.answers[0].prelabel is not None and label.answers[0].prelabel.confidence == 0.7
    label = await service.call(
        ann,
        "answer_question",
        api.AnswerQuestionRequest(task_id=task.id, question_id="best", answer="B"),
        api.LabelView,
    )
    assert label.answers[0].value == "B" and label.answers[0].prelabel is None and label.prelabels_pending == 1
    assert label.crowns[0].prelabel is not None
    label = await service.call(ann, "undo", api.TaskRef(task_id=task.id), api.LabelView)
    assert label.answers[0].value == "A" and label.answers[0].prelabel is not None


async def test_ontology_change_keeps_old_answers_and_their_version(service: Any) -> None:
    org = service.org()
    ann = org.user()
    project, _ = await service.project(org, members={ann.user_id: "ANNOTATOR"}, rows=1, ontology=ontology())
    task = await service.call(ann, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)
    await service.call(
        ann, "answer_question", api.AnswerQuestionRequest(task_id=task.id, question_id="best", answer="A")
    )
    new = await service.call(
        org.admin,
        "update_ontology",
        api.UpdateOntologyRequest(project_id=project.id, ontology=api.OntologyInput(questions=[QUESTIONS[3]])),
        api.ProjectView,
    )
    assert new.ontology.version == 2
    label = await service.call(
        ann,
        "answer_question",
        api.AnswerQuestionRequest(task_id=task.id, question_id="safe", answer=True),
        api.LabelView,
    )
    assert {(a.question_id, a.ontology_version) for a in label.answers} == {("best", 1), ("safe", 2)}
    with pytest.raises(Invalid):  # "best" is gone from the current ontology
        await service.call(
            ann, "answer_question", api.AnswerQuestionRequest(task_id=task.id, question_id="best", answer="B")
        )


async def test_answers_given_while_the_ontology_changes_are_valid_under_their_version(service: Any) -> None:
    """Four annotators answer a radio question while a manager keeps changing its options:
    every answer in the log is one of the options of the ontology version it records, and
    the only refusals are INVALID_INPUT (an option gone) and CONFLICT."""
    org = service.org()
    annotators = [org.user() for _ in range(4)]
    sets = [["A", "B"], ["B", "C"], ["C", "D"]]

    def radio(options: list[str]) -> api.OntologyInput:
        return api.OntologyInput(
            questions=[Question(id="pick", title="Pick", kind="RADIO", options=[Option(value=v) for v in options])]
        )

    project, _ = await service.project(
        org, members={u.user_id: "ANNOTATOR" for u in annotators}, rows=4, ontology=radio(sets[0])
    )
    unexpected: list[BaseException] = []

    async def answer(k: int, who: Any) -> None:
        task = await service.call(who, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)
        assert task is not None
        for i in range(40):
            value = "ABCD"[(k + i) % 4]
            try:
                await service.call(
                    who, "answer_question", api.AnswerQuestionRequest(task_id=task.id, question_id="pick", answer=value)
                )
            except (Invalid, Conflict):
                continue
            except Exception as exc:  # anything else is a failure of the service
                unexpected.append(exc)
                return

    async def change() -> None:
        for i in range(12):
            await service.call(
                org.admin,
                "update_ontology",
                api.UpdateOntologyRequest(project_id=project.id, ontology=radio(sets[(i + 1) % 3])),
                api.ProjectView,
            )
            await asyncio.sleep(0.01)

    await asyncio.gather(*(answer(k, u) for k, u in enumerate(annotators)), change())
    assert unexpected == []
    pool = service.rt.pool
    versions = {
        r["version"]: {o["value"] for o in json.loads(r["options"])}
        for r in await pool.fetch(
            "select (data->>'version')::int as version, data->'questions'->0->'options' as options"
            " from eventlog.events where stream_name = $1 and event_type = 'OntologyUpdated'",
            f"project-{project.id}",
        )
    }
    assert len(versions) == 13
    answers = await pool.fetch(
        "select data->>'value' as value, (data->>'ontology_version')::int as version from eventlog.events"
        " where event_type = 'QuestionAnswered' and project_id = $1",
        project.id,
    )
    assert len(answers) > 20
    for a in answers:
        assert a["value"] in versions[a["version"]], (dict(a), versions[a["version"]])


async def test_idempotency_key_returns_the_first_result(service: Any) -> None:
    org = service.org()
    ann = org.user()
    project, _ = await service.project(org, members={ann.user_id: "ANNOTATOR"}, rows=1, ontology=ontology())
    task = await service.call(ann, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)
    body = api.CrownResponseRequest(task_id=task.id, response_id="p0r0")
    first = await service.call(ann, "crown_response", body, api.LabelView, key="k1")
    again = await service.call(ann, "crown_response", body, api.LabelView, key="k1")
    assert again == first
    await service.call(
        ann, "answer_question", api.AnswerQuestionRequest(task_id=task.id, question_id="best", answer="A")
    )
    # Sent three times at once: one submission, one answer for all.
    submits = [
        service.call(ann, "submit_label", api.TaskRef(task_id=task.id), api.LabelView, key="s1") for _ in range(3)
    ]
    sub, *others = await asyncio.gather(*submits)
    assert others == [sub, sub]
    assert await service.call(ann, "submit_label", api.TaskRef(task_id=task.id), api.LabelView, key="s1") == sub
    # The queue rows changed once, with the one submission (they are effects of its append).
    counted = await service.rt.pool.fetchrow(
        "select submitted_labels, open_leases, status from labeling.tasks where task_id = $1", task.id
    )
    assert tuple(counted) == (1, 0, "IN_REVIEW")
    assert (
        await service.rt.store.stream_version(f"label-{task.my_label.id}") == 3
    )  # positions: started 0, crown 1, answer 2, submit 3
