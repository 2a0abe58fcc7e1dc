"""Every operation by every role, allowed and refused; another org sees nothing."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from preflog_contracts.errors import ErrorCode, Forbidden, NotFound, PreflogError
from preflog_contracts.events.projects import MemberRemoved
from preflog_contracts.identity import Identity
from preflog_contracts.rpc import review as api
from preflog_review.adapters.tables import LIVE
from preflog_testing.waiting import eventually

from .conftest import Org, Service, snapshot

ROLES = ("annotator", "annotator2", "reviewer", "manager", "owner", "admin", "outsider", "stranger")
REVIEWERS = {"reviewer", "manager", "owner"}
MEMBERS = REVIEWERS | {"annotator", "annotator2"}
# Expected answer per operation: roles allowed; everyone else FORBIDDEN, "stranger" NOT_FOUND.
ALLOWED: dict[str, set[str]] = {
    "approve_label": REVIEWERS,
    "reject_label": REVIEWERS,
    "mark_for_review": REVIEWERS,
    "set_benchmark_reference": REVIEWERS,
    "open_issue": MEMBERS,
    "comment_on_issue": MEMBERS,
    "resolve_issue": REVIEWERS,
    "list_issues": MEMBERS | {"admin"},
    "get_issues": MEMBERS | {"admin"},
    "get_tasks": MEMBERS | {"admin"},
    "review_queue": REVIEWERS | {"admin"},
    "leaderboard": REVIEWERS | {"admin"},
    "agreement": REVIEWERS | {"admin"},
    "task_scores": REVIEWERS | {"admin"},
    "get_reviews": REVIEWERS | {"admin", "annotator"},  # annotator is the label's author
    "get_labels": REVIEWERS | {"admin", "annotator"},
    "label_scores": REVIEWERS | {"admin", "annotator"},
}


async def _fresh_label(org: Org) -> str:
    task, row = await org.create_task()
    label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await org.wait_status(task, "IN_REVIEW")
    return label


async def test_every_operation_by_every_role(service: Service) -> None:
    org = Org(service)
    await org.create_project()
    org.user("outsider")
    stranger = Identity(
        user_id="stranger", org_id="00000000-0000-4000-8000-000000000000", org_role="ADMIN"
    )
    ident = {name: org.user(name) for name in ROLES if name != "stranger"} | {"stranger": stranger}

    task, row = await org.create_task()
    label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await org.wait_status(task, "IN_REVIEW")
    issue = await service.call(
        org.user("annotator"), "open_issue", api.OpenIssue(task_id=task, body="typo"), api.IssueView
    )
    pid = org.project_id

    async def request(op: str, role: str) -> tuple[Any, type[Any]]:
        """A valid request for ``op``; state-changing ones get a fresh target when allowed."""
        allowed = role in ALLOWED[op]
        if op in ("approve_label", "reject_label", "set_benchmark_reference"):
            target = await _fresh_label(org) if allowed else label
            body: Any = {
                "approve_label": api.ApproveLabel(label_id=target),
                "reject_label": api.RejectLabel(label_id=target, reason="r"),
                "set_benchmark_reference": api.SetBenchmarkReference(label_id=target),
            }[op]
            return body, api.LabelReviewView
        if op == "resolve_issue":
            target_issue = issue.id
            if allowed:
                fresh = await service.call(
                    org.user("annotator"),
                    "open_issue",
                    api.OpenIssue(task_id=task, body="x"),
                    api.IssueView,
                )
                target_issue = fresh.id
            return api.ResolveIssue(issue_id=target_issue, resolution="ok"), api.IssueView
        table: dict[str, tuple[Any, type[Any]]] = {
            "mark_for_review": (
                api.MarkForReview(label_id=label, note="look"),
                api.LabelReviewView,
            ),
            "open_issue": (api.OpenIssue(task_id=task, body="b", label_id=label), api.IssueView),
            "comment_on_issue": (api.CommentOnIssue(issue_id=issue.id, body="c"), api.IssueView),
            "list_issues": (api.ListIssues(project_id=pid), api.IssueList),
            "get_issues": (api.GetIssues(issue_ids=[issue.id]), api.IssueList),
            "get_tasks": (api.GetTasks(task_ids=[task]), api.TaskReviewViews),
            "review_queue": (api.ReviewQueueRequest(project_id=pid), api.ReviewQueue),
            "leaderboard": (
                api.LeaderboardRequest(project_id=pid, bootstrap_rounds=10),
                api.LeaderboardView,
            ),
            "agreement": (api.AgreementRequest(project_id=pid), api.AgreementReport),
            "task_scores": (api.TaskScoresRequest(task_ids=[task]), api.TaskScores),
            "get_reviews": (api.GetReviews(label_ids=[label]), api.ReviewHistory),
            "get_labels": (api.GetLabels(label_ids=[label]), api.LabelReviewViews),
            "label_scores": (api.LabelScoresRequest(label_ids=[label]), api.LabelScores),
        }
        return table[op]

    outcomes: dict[tuple[str, str], str] = {}
    expected: dict[tuple[str, str], str] = {}
    for op in ALLOWED:
        for role in ROLES:
            body, answer = await request(op, role)
            expected[(op, role)] = (
                "ok" if role in ALLOWED[op] else "NOT_FOUND" if role == "stranger" else "FORBIDDEN"
            )
            events_before = await _event_count(service, org.org_id)
            try:
                await service.call(ident[role], op, body, answer)
                outcomes[(op, role)] = "ok"
            except PreflogError as exc:
                outcomes[(op, role)] = exc.code.value
                assert await _event_count(service, org.org_id) == events_before, (op, role)
    wrong = {k: (outcomes[k], v) for k, v in expected.items() if outcomes[k] != v}
    assert not wrong, wrong


async def _event_count(service: Service, org_id: str) -> int:
    count: int = await service.pool.fetchval(
        "select count(*) from eventlog.events"
        " where org_id = $1::uuid and category in ('workflow', 'issue')",
        org_id,
    )
    return count


async def test_another_org_learns_nothing(service: Service) -> None:
    """Ids of another org answer exactly like ids that never existed."""
    org = Org(service)
    await org.create_project()
    task, row = await org.create_task()
    label = await org.submit(task, row, "annotator", snapshot(crown="r-model-a"))
    await org.wait_status(task, "IN_REVIEW")
    other = Org(service)
    await other.create_project()
    intruder = other.user("owner")

    async def message(call: Callable[[], Awaitable[Any]]) -> tuple[str, str]:
        try:
            await call()
        except PreflogError as exc:
            return exc.code.value, exc.message
        raise AssertionError("expected a refusal")

    for real, missing in ((label, "l-missing"),):
        got = await message(
            lambda i=real: service.call(
                intruder, "approve_label", api.ApproveLabel(label_id=i), api.LabelReviewView
            )
        )
        absent = await message(
            lambda i=missing: service.call(
                intruder, "approve_label", api.ApproveLabel(label_id=i), api.LabelReviewView
            )
        )
        assert got == absent == (ErrorCode.NOT_FOUND.value, "label not found")
    got = await message(
        lambda: service.call(
            intruder,
            "leaderboard",
            api.LeaderboardRequest(project_id=org.project_id),
            api.LeaderboardView,
        )
    )
    absent = await message(
        lambda: service.call(
            intruder,
            "leaderboard",
            api.LeaderboardRequest(project_id="p-missing"),
            api.LeaderboardView,
        )
    )
    assert got == absent == (ErrorCode.NOT_FOUND.value, "project not found")
    got = await message(
        lambda: service.call(
            intruder, "open_issue", api.OpenIssue(task_id=task, body="x"), api.IssueView
        )
    )
    assert got == (ErrorCode.NOT_FOUND.value, "task not found")

    # The intruder's own project (and its membership) reach review through its intake
    # consumer: wait for them.
    async def own_issues() -> api.IssueList | None:
        try:
            return await service.call(
                intruder,
                "list_issues",
                api.ListIssues(project_id=other.project_id, status="ALL"),
                api.IssueList,
            )
        except (NotFound, Forbidden):
            return None  # the project or its owner's membership is not learned yet

    listed = await eventually(own_issues, lambda found: found is not None)
    assert listed is not None and listed.issues == []


async def test_a_reviewer_removed_from_the_project_may_no_longer_decide(service: Service) -> None:
    org = Org(service)
    await org.create_project()
    label = await _fresh_label(org)
    reviewer = org.user("reviewer")
    await org.emit(
        MemberRemoved(project_id=org.project_id, user_id=reviewer.user_id), org.project_id
    )

    async def still_member() -> int:
        return int(
            await service.pool.fetchval(
                f"select count(*) from {LIVE.members} where project_id = $1 and user_id = $2",
                org.project_id,
                reviewer.user_id,
            )
        )

    assert await eventually(still_member, lambda n: n == 0) == 0  # review learned it
    try:
        await service.call(
            reviewer, "approve_label", api.ApproveLabel(label_id=label), api.LabelReviewView
        )
    except PreflogError as exc:
        assert exc.code is ErrorCode.FORBIDDEN
    else:
        raise AssertionError("a removed reviewer approved a label")
