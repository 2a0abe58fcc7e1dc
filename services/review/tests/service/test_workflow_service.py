"""Workflow through the service: submit, review, rework, skip, consensus, concurrency."""

from __future__ import annotations

import asyncio

import pytest

from preflog_contracts.errors import Conflict, Invalid
from preflog_contracts.rpc import review as api

from .conftest import Org, eventually, snapshot


async def test_submit_review_approve_done(org: Org) -> None:
    task, row = await org.create_task()
    label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await org.wait_status(task, "IN_REVIEW")
    assert await org.svc.workflow_events(task) == ["TaskStatusChanged"]

    view = await org.svc.call(
        org.user("reviewer"),
        "approve_label",
        api.ApproveLabel(label_id=label, comment="good"),
        api.LabelReviewView,
    )
    assert (view.status, view.task_status) == ("APPROVED", "DONE")
    await org.wait_status(task, "DONE")
    assert await org.svc.workflow_events(task) == [
        "TaskStatusChanged",
        "LabelApproved",
        "TaskStatusChanged",
    ]

    async def history() -> api.ReviewHistory | None:
        h = await org.svc.call(
            org.user("annotator"),
            "get_reviews",
            api.GetReviews(label_ids=[label]),
            api.ReviewHistory,
        )
        return h if h.labels[0].reviews else None

    got = await eventually(history)
    [entry] = got.labels[0].reviews
    assert (entry.kind, entry.actor_id, entry.comment) == (
        "APPROVED",
        org.user("reviewer").user_id,
        "good",
    )


async def test_reject_rework_resubmit_with_reason_visible(org: Org) -> None:
    task, row = await org.create_task()
    label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await org.wait_status(task, "IN_REVIEW")
    view = await org.svc.call(
        org.user("manager"),
        "reject_label",
        api.RejectLabel(label_id=label, reason="wrong crown"),
        api.LabelReviewView,
    )
    assert (view.status, view.task_status, view.rejection_reason) == (
        "REJECTED",
        "IN_REWORK",
        "wrong crown",
    )
    await org.wait_status(task, "IN_REWORK")
    await org.wait_label(label, "REJECTED")
    seen = await org.svc.call(
        org.user("annotator"), "get_labels", api.GetLabels(label_ids=[label]), api.LabelReviewViews
    )
    assert seen.labels[0].rejection_reason == "wrong crown"
    tasks = await org.svc.call(
        org.user("annotator"), "get_tasks", api.GetTasks(task_ids=[task]), api.TaskReviewViews
    )
    assert (tasks.tasks[0].status, tasks.tasks[0].status_reason) == ("IN_REWORK", "wrong crown")

    # The annotator reworks the same label and submits again.
    await org.submit(task, row, "annotator", snapshot(crown="r-model-b"), label_id=label)
    await org.wait_status(task, "IN_REVIEW")
    await org.wait_label(label, "SUBMITTED")
    view = await org.svc.call(
        org.user("owner"), "approve_label", api.ApproveLabel(label_id=label), api.LabelReviewView
    )
    assert view.task_status == "DONE"


async def test_review_off_goes_straight_to_done(service) -> None:  # type: ignore[no-untyped-def]
    world = Org(service)
    await world.create_project(review_required=False)
    task, row = await world.create_task()
    await world.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await world.wait_status(task, "DONE")
    assert await service.workflow_events(task) == ["TaskStatusChanged"]


async def test_review_off_a_consensus_task_is_done_at_its_label_count(service) -> None:  # type: ignore[no-untyped-def]
    """Without review a consensus task still waits for its labels: done at the last one."""
    world = Org(service)
    await world.create_project(review_required=False, quality_mode="CONSENSUS", count=2)
    task, row = await world.create_task()
    first = await world.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await world.wait_label(first)
    assert await world.task_status(task) == "TO_LABEL"
    assert await service.workflow_events(task) == []
    await world.submit(task, row, "annotator2", snapshot(crown="r-model-b"))
    await world.wait_status(task, "DONE")
    assert await service.workflow_events(task) == ["TaskStatusChanged"]


async def test_a_label_is_reviewed_once_its_task_is_in_review(service) -> None:  # type: ignore[no-untyped-def]
    """A consensus task still collecting labels is not in review: deciding on one of its
    labels then is refused (a rejection would have sent the task to rework, where nobody
    could give it the labels it still lacks), and appends nothing."""
    world = Org(service)
    await world.create_project(quality_mode="CONSENSUS", count=2)
    task, row = await world.create_task()
    first = await world.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await world.wait_label(first)
    for method, req in (
        ("reject_label", api.RejectLabel(label_id=first, reason="no")),
        ("approve_label", api.ApproveLabel(label_id=first)),
    ):
        with pytest.raises(Invalid) as refused:
            await service.call(world.user("reviewer"), method, req, api.LabelReviewView)
        assert refused.value.fields == {"labelId": "the task is to label, not in review"}
    assert await service.workflow_events(task) == []
    second = await world.submit(task, row, "annotator2", snapshot(crown="r-model-b"))
    # Straight after the task's last submission: the decision waits for review to learn it.
    view = await service.call(
        world.user("reviewer"),
        "reject_label",
        api.RejectLabel(label_id=first, reason="no"),
        api.LabelReviewView,
    )
    assert (view.status, view.task_status) == ("REJECTED", "IN_REWORK")
    await world.wait_label(second)


async def test_skip_and_requeue(org: Org) -> None:
    task, _ = await org.create_task()
    await org.skip(task)
    await org.wait_status(task, "SKIPPED")
    await org.requeue(task)
    await org.wait_status(task, "TO_LABEL")
    events = await org.svc.store.read_stream(f"workflow-{task}")
    assert [(e.event_type, e.metadata.actor_id) for e in events] == [
        ("TaskStatusChanged", "system"),
        ("TaskStatusChanged", "system"),
    ]


async def test_consensus_task_enters_review_at_its_label_count(service) -> None:  # type: ignore[no-untyped-def]
    world = Org(service)
    await world.create_project(quality_mode="CONSENSUS", count=3, coverage=1.0)
    task, row = await world.create_task()
    first = await world.submit(
        task, row, "annotator", snapshot(crown="r-model-a", helpful="a", score=4)
    )
    second = await world.submit(
        task, row, "annotator2", snapshot(crown="r-model-a", helpful="b", score=4)
    )
    await world.wait_label(second)
    await world.wait_label(first)
    assert await world.task_status(task) == "TO_LABEL"
    third = await world.submit(
        task, row, "annotator3", snapshot(crown="r-model-b", helpful="a", score=2)
    )
    await world.wait_status(task, "IN_REVIEW")

    scores = await service.call(
        world.user("reviewer"),
        "task_scores",
        api.TaskScoresRequest(task_ids=[task]),
        api.TaskScores,
    )
    [ts] = scores.tasks
    assert ts.consensus is not None
    assert ts.consensus.crown_agreement == pytest.approx(1 / 3)  # one agreeing pair of three
    by_label = {s.label_id: s for s in ts.labels}
    assert (
        by_label[third].consensus is not None and by_label[third].consensus.crown_agreement == 0.0
    )
    assert by_label[first].consensus.crown_agreement == pytest.approx(0.5)  # type: ignore[union-attr]

    # Approving one of three keeps the task in review; the last approval finishes it.
    for label in (first, second):
        view = await service.call(
            world.user("reviewer"),
            "approve_label",
            api.ApproveLabel(label_id=label),
            api.LabelReviewView,
        )
        assert view.task_status == "IN_REVIEW"
    view = await service.call(
        world.user("reviewer"),
        "approve_label",
        api.ApproveLabel(label_id=third),
        api.LabelReviewView,
    )
    assert view.task_status == "DONE"


async def test_consensus_outside_coverage_needs_one_label(service) -> None:  # type: ignore[no-untyped-def]
    world = Org(service)
    await world.create_project(quality_mode="CONSENSUS", count=3, coverage=0.0)
    task, row = await world.create_task()
    await world.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await world.wait_status(task, "IN_REVIEW")
    tasks = await service.call(
        world.user("reviewer"), "get_tasks", api.GetTasks(task_ids=[task]), api.TaskReviewViews
    )
    assert tasks.tasks[0].required_labels == 1


async def test_refusals_leave_no_event(org: Org) -> None:
    task, row = await org.create_task()
    label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await org.wait_status(task, "IN_REVIEW")
    reviewer = org.user("reviewer")
    with pytest.raises(Invalid) as info:
        await org.svc.call(
            reviewer,
            "reject_label",
            api.RejectLabel(label_id=label, reason="  "),
            api.LabelReviewView,
        )
    assert info.value.fields == {"reason": "required"}
    await org.svc.call(
        reviewer, "approve_label", api.ApproveLabel(label_id=label), api.LabelReviewView
    )
    before = await org.svc.workflow_events(task)
    with pytest.raises(Invalid):
        await org.svc.call(
            reviewer, "approve_label", api.ApproveLabel(label_id=label), api.LabelReviewView
        )
    with pytest.raises(Invalid):
        await org.svc.call(
            reviewer,
            "reject_label",
            api.RejectLabel(label_id=label, reason="late"),
            api.LabelReviewView,
        )
    assert await org.svc.workflow_events(task) == before


async def test_concurrent_approve_and_reject_exactly_one_wins(org: Org) -> None:
    reviewer, manager = org.user("reviewer"), org.user("manager")
    for _ in range(6):
        task, row = await org.create_task()
        label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a"))
        await org.wait_status(task, "IN_REVIEW")
        results = await asyncio.gather(
            org.svc.call(
                reviewer, "approve_label", api.ApproveLabel(label_id=label), api.LabelReviewView
            ),
            org.svc.call(
                manager,
                "reject_label",
                api.RejectLabel(label_id=label, reason="no"),
                api.LabelReviewView,
            ),
            return_exceptions=True,
        )
        wins = [r for r in results if isinstance(r, api.LabelReviewView)]
        losses = [r for r in results if isinstance(r, Exception)]
        assert len(wins) == 1 and len(losses) == 1, results
        assert isinstance(losses[0], Invalid | Conflict)
        decisions = [
            e
            for e in await org.svc.workflow_events(task)
            if e in ("LabelApproved", "LabelRejected")
        ]
        assert len(decisions) == 1


async def test_idempotency_key_returns_the_first_result(org: Org) -> None:
    task, row = await org.create_task()
    label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await org.wait_status(task, "IN_REVIEW")
    reviewer = org.user("reviewer")
    first = await org.svc.call(
        reviewer, "approve_label", api.ApproveLabel(label_id=label), api.LabelReviewView, key="k1"
    )
    again = await org.svc.call(
        reviewer, "approve_label", api.ApproveLabel(label_id=label), api.LabelReviewView, key="k1"
    )
    assert first == again
    assert (await org.svc.workflow_events(task)).count("LabelApproved") == 1


async def test_review_queue_orders_by_priority_then_age(service) -> None:  # type: ignore[no-untyped-def]
    world = Org(service)
    await world.create_project()
    order = []
    for priority in (0, 5, 0, 5):
        task, row = await world.create_task(priority=priority)
        await world.submit(task, row, "annotator", snapshot(crown="r-model-a"))
        await world.wait_status(task, "IN_REVIEW")
        order.append((priority, task))
    expected = [t for _, t in sorted(order, key=lambda x: -x[0])]  # stable: age within priority
    page = await service.call(
        world.user("reviewer"),
        "review_queue",
        api.ReviewQueueRequest(project_id=world.project_id, first=3),
        api.ReviewQueue,
    )
    rest = await service.call(
        world.user("reviewer"),
        "review_queue",
        api.ReviewQueueRequest(project_id=world.project_id, first=3, after=page.next_cursor),
        api.ReviewQueue,
    )
    assert [t.task_id for t in page.tasks + rest.tasks] == expected
    assert rest.next_cursor is None


async def test_a_decision_straight_after_a_submission_judges_that_submission(org: Org) -> None:
    """Review learns submissions a moment after they commit; a reviewer who acts at once
    must neither be refused nor judge the previous submission."""
    for _ in range(3):
        task, row = await org.create_task()
        label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a"))
        view = await org.svc.call(
            org.user("manager"),
            "reject_label",
            api.RejectLabel(label_id=label, reason="look again"),
            api.LabelReviewView,
        )
        assert (view.status, view.task_status) == ("REJECTED", "IN_REWORK")
        await org.submit(task, row, "annotator", snapshot(crown="r-model-b"), label_id=label)
        view = await org.svc.call(
            org.user("owner"),
            "approve_label",
            api.ApproveLabel(label_id=label),
            api.LabelReviewView,
        )
        assert (view.status, view.task_status) == ("APPROVED", "DONE")


async def test_reviewers_deciding_at_once_while_labels_arrive_lose_nothing(service) -> None:  # type: ignore[no-untyped-def]
    """Two reviewers approve the labels of consensus tasks at once, racing on every label,
    while the intake takes in more submissions: each label is decided once, the loser of a
    race gets INVALID_INPUT or CONFLICT and nothing else fails, and every task ends DONE."""
    world = Org(service)
    await world.create_project(quality_mode="CONSENSUS", count=3, coverage=1.0)
    authors = ("annotator", "annotator2", "annotator3")
    tasks = [await world.create_task() for _ in range(8)]
    labels: dict[str, list[str]] = {}

    async def annotate(task: str, row: str) -> None:
        for k, author in enumerate(authors):
            snap = snapshot(crown="r-model-a" if k else "r-model-b", helpful="a", score=3 + k)
            labels.setdefault(task, []).append(await world.submit(task, row, author, snap))

    async def review(who: str) -> list[BaseException]:
        failures: list[BaseException] = []
        for task, _ in tasks:
            await world.wait_status(task, "IN_REVIEW")
            for label in list(labels[task]):
                try:
                    await service.call(
                        world.user(who),
                        "approve_label",
                        api.ApproveLabel(label_id=label),
                        api.LabelReviewView,
                    )
                except (Invalid, Conflict):
                    pass
                except Exception as exc:  # anything else is a failure of the service
                    failures.append(exc)
        return failures

    first_half, second_half = tasks[:4], tasks[4:]
    await asyncio.gather(*(annotate(t, r) for t, r in first_half))
    outcomes = await asyncio.gather(
        review("reviewer"), review("manager"), *(annotate(t, r) for t, r in second_half)
    )
    assert outcomes[0] == [] and outcomes[1] == []
    for task, _ in tasks:
        await world.wait_status(task, "DONE")
        decisions = [e for e in await service.workflow_events(task) if e == "LabelApproved"]
        assert len(decisions) == 3, (task, decisions)
