"""Issues through the service: open on each target kind, comment, list, resolve once."""

from __future__ import annotations

import pytest

from preflog_contracts.errors import Invalid
from preflog_contracts.events.labels import Target
from preflog_contracts.rpc import review as api

from .conftest import Org, eventually, snapshot


async def test_issue_lifecycle(org: Org) -> None:
    task, row = await org.create_task()
    label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a", helpful="a"))
    await org.wait_status(task, "IN_REVIEW")
    annotator, reviewer = org.user("annotator"), org.user("reviewer")
    opened = [
        await org.svc.call(annotator, "open_issue", body, api.IssueView)
        for body in (
            api.OpenIssue(task_id=task, body="task is unclear"),
            api.OpenIssue(task_id=task, body="label", label_id=label),
            api.OpenIssue(
                task_id=task,
                body="response",
                label_id=label,
                target=Target(response_id="r-model-a"),
            ),
            api.OpenIssue(task_id=task, body="answer", label_id=label, question_id="q-helpful"),
        )
    ]
    assert all(i.status == "OPEN" and i.author_id == annotator.user_id for i in opened)
    assert opened[2].target.response_id == "r-model-a" and opened[3].question_id == "q-helpful"
    # A question id must name a question of the project's ontology; nothing is appended else.
    before = len(await org.svc.store.read_stream(f"workflow-{task}"))
    for op, body in (
        ("open_issue", api.OpenIssue(task_id=task, body="?", label_id=label, question_id="q-no")),
        ("mark_for_review", api.MarkForReview(label_id=label, question_id="q-no")),
    ):
        with pytest.raises(Invalid) as refused:
            await org.svc.call(reviewer, op, body, api.IssueView)
        assert refused.value.fields == {"questionId": "not a question of the project"}
    assert len(await org.svc.store.read_stream(f"workflow-{task}")) == before
    flagged = await org.svc.call(
        reviewer,
        "mark_for_review",
        api.MarkForReview(label_id=label, question_id="q-score", note="too high"),
        api.LabelReviewView,
    )
    assert [(f.question_id, f.note) for f in flagged.flags] == [("q-score", "too high")]

    commented = await org.svc.call(
        reviewer,
        "comment_on_issue",
        api.CommentOnIssue(issue_id=opened[0].id, body="which part?"),
        api.IssueView,
    )
    assert [c.body for c in commented.comments] == ["which part?"]
    resolved = await org.svc.call(
        reviewer,
        "resolve_issue",
        api.ResolveIssue(issue_id=opened[0].id, resolution="clarified"),
        api.IssueView,
    )
    assert (resolved.status, resolved.resolution, resolved.resolved_by) == (
        "RESOLVED",
        "clarified",
        reviewer.user_id,
    )
    before = len(await org.svc.store.read_stream(f"issue-{opened[0].id}"))
    with pytest.raises(Invalid):
        await org.svc.call(
            reviewer, "resolve_issue", api.ResolveIssue(issue_id=opened[0].id), api.IssueView
        )
    assert len(await org.svc.store.read_stream(f"issue-{opened[0].id}")) == before

    async def listed() -> bool:
        open_only = await org.svc.call(
            annotator,
            "list_issues",
            api.ListIssues(project_id=org.project_id, task_id=task),
            api.IssueList,
        )
        every = await org.svc.call(
            annotator,
            "list_issues",
            api.ListIssues(project_id=org.project_id, task_id=task, status="ALL"),
            api.IssueList,
        )
        assert [i.id for i in open_only.issues] == [i.id for i in opened[1:]]
        assert [i.id for i in every.issues] == [i.id for i in opened]
        assert every.issues[0].comments[0].body == "which part?"
        of_tasks = await org.svc.call(
            annotator,
            "list_issues",
            api.ListIssues(
                project_id=org.project_id, task_ids=[task, "no-such-task"], status="ALL"
            ),
            api.IssueList,
        )
        assert [i.id for i in of_tasks.issues] == [i.id for i in opened]
        none = await org.svc.call(
            annotator,
            "list_issues",
            api.ListIssues(project_id=org.project_id, task_ids=["no-such-task"], status="ALL"),
            api.IssueList,
        )
        assert none.issues == []
        return True

    await eventually(listed)
    got = await org.svc.call(
        annotator, "get_issues", api.GetIssues(issue_ids=[opened[0].id]), api.IssueList
    )
    assert got.issues[0].status == "RESOLVED"

    with pytest.raises(Invalid):
        await org.svc.call(
            annotator, "open_issue", api.OpenIssue(task_id=task, body=" "), api.IssueView
        )
