"""The review service's NATS operations (``review.*``); see ``preflog_contracts.rpc.review``."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from preflog_contracts.identity import Identity
from preflog_contracts.rpc import review as api
from preflog_messaging.rpc import CallContext, RpcServer
from preflog_review.adapters.queries import ReviewQueries
from preflog_review.handlers.issue_actions import IssueActions
from preflog_review.handlers.review_actions import ReviewActions

Req = TypeVar("Req")


def _read(
    query: Callable[[Identity, Req], Awaitable[Any]],
) -> Callable[[CallContext, Req], Awaitable[Any]]:
    async def handler(ctx: CallContext, req: Req) -> Any:
        return await query(ctx.require_identity(), req)

    return handler


def register(
    server: RpcServer, actions: ReviewActions, issues: IssueActions, queries: ReviewQueries
) -> None:
    server.register("approve_label", api.ApproveLabel, actions.approve_label)
    server.register("reject_label", api.RejectLabel, actions.reject_label)
    server.register("mark_for_review", api.MarkForReview, actions.mark_for_review)
    server.register(
        "set_benchmark_reference", api.SetBenchmarkReference, actions.set_benchmark_reference
    )
    server.register("requeue_rework", api.RequeueRework, actions.requeue_rework)
    server.register("open_issue", api.OpenIssue, issues.open_issue)
    server.register("comment_on_issue", api.CommentOnIssue, issues.comment_on_issue)
    server.register("resolve_issue", api.ResolveIssue, issues.resolve_issue)
    server.register("list_issues", api.ListIssues, _read(queries.list_issues))
    server.register("get_issues", api.GetIssues, _read(queries.get_issues))
    server.register("review_queue", api.ReviewQueueRequest, _read(queries.review_queue))
    server.register("get_reviews", api.GetReviews, _read(queries.get_reviews))
    server.register("get_labels", api.GetLabels, _read(queries.get_labels))
    server.register("get_tasks", api.GetTasks, _read(queries.get_tasks))
    server.register("leaderboard", api.LeaderboardRequest, _read(queries.leaderboard))
    server.register("agreement", api.AgreementRequest, _read(queries.agreement))
    server.register("label_scores", api.LabelScoresRequest, _read(queries.label_scores))
    server.register("task_scores", api.TaskScoresRequest, _read(queries.task_scores))
