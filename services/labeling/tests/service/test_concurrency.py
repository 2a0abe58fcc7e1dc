"""Two sessions of one annotator acting on the same label at once: every action lands in
some order or gets a retryable CONFLICT; never a lost update."""

from __future__ import annotations

import asyncio
from typing import Any

from preflog_contracts.errors import Conflict
from preflog_contracts.events.projects import Question
from preflog_contracts.rpc import labeling as api

N = 24


async def test_parallel_actions_on_one_label_lose_nothing(service: Any) -> None:
    org = service.org()
    ann = org.user()
    questions = [Question(id=f"q{i}", title=f"q{i}", kind="TEXT") for i in range(N)]
    project, _ = await service.project(
        org, members={ann.user_id: "ANNOTATOR"}, rows=1, ontology=api.OntologyInput(questions=questions)
    )
    task = await service.call(ann, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)

    async def answer(i: int) -> str | None:
        try:
            await service.call(
                ann, "answer_question", api.AnswerQuestionRequest(task_id=task.id, question_id=f"q{i}", answer=f"a{i}")
            )
        except Conflict:
            return None
        return f"q{i}"

    landed = [q for q in await asyncio.gather(*(answer(i) for i in range(N))) if q is not None]
    assert landed  # and every one that landed is in the label
    version = await service.rt.store.stream_version(f"label-{task.my_label.id}")
    assert version == len(landed)  # LabelStarted at 0, then one event per landed action
    await service.settle()
    label = await service.call(ann, "get_label", api.LabelRef(label_id=task.my_label.id), api.LabelView)
    assert sorted(a.question_id for a in label.answers) == sorted(landed)


async def test_authors_of_a_consensus_task_submitting_at_once_all_count(service: Any) -> None:
    """Each submission releases its lease on the task's stream and counts on the task row:
    at once, they serialise (a conflict is retried, by the service or the caller) and the
    task ends with every label counted and in review."""
    org = service.org()
    users = [org.user() for _ in range(3)]
    project = await service.consensus_project(org, users, labels_per_row=3)
    claimed = [
        await service.call(u, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)
        for u in users
    ]
    task_id = claimed[0].id
    assert all(t is not None and t.id == task_id for t in claimed)

    async def submit(who: Any) -> None:
        while True:
            try:
                await service.call(who, "submit_label", api.TaskRef(task_id=task_id), api.LabelView)
                return
            except Conflict:
                continue

    await asyncio.gather(*(submit(u) for u in users))
    await service.settle()
    view = await service.call(org.admin, "get_task", api.TaskRef(task_id=task_id), api.TaskView)
    assert view.status == "IN_REVIEW" and view.submitted_labels == 3
    assert sorted(label.status for label in view.labels) == ["SUBMITTED"] * 3
    assert view.leases == []
