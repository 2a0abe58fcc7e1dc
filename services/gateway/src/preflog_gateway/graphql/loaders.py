"""DataLoaders, made fresh for each request so nothing leaks between callers.

Each loader turns the many lookups of one query level into one batched service call, so a
page of N tasks with data rows, labels, scores and reviews costs a bounded number of calls.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Sequence
from functools import cached_property, partial
from typing import TYPE_CHECKING, Any, Protocol, TypeVar
from weakref import proxy

from strawberry.dataloader import DataLoader

from preflog_contracts.envelope import RecordedEvent
from preflog_contracts.errors import NotFound, PreflogError
from preflog_contracts.rpc import ingest, labeling, review
from preflog_gateway.accounts.records import UserRecord

if TYPE_CHECKING:
    from preflog_gateway.graphql.context import GatewayContext


V = TypeVar("V")


class _Identified(Protocol):
    @property
    def id(self) -> str: ...


HasId = TypeVar("HasId", bound=_Identified)


async def unknown_to_review_as_empty(
    ids: Sequence[str], fetch: Callable[[Sequence[str]], Awaitable[list[V]]], empty: V
) -> list[V]:
    """``fetch(ids)``, where a label the review service does not know is ``empty``.

    Labels come from labeling, which already checked the caller may see them; review learns
    of a label from labeling's events a moment later. Until then it answers NOT_FOUND, which
    for a batch would fail every label of the page (e.g. ``reviews`` on the label a first
    ``rankResponses`` just returned). So on NOT_FOUND ask again one label at a time.
    """
    try:
        return await fetch(ids)
    except NotFound:
        if len(ids) == 1:
            return [empty]
        ones = await asyncio.gather(*(unknown_to_review_as_empty([i], fetch, empty) for i in ids))
        return [one[0] for one in ones]


class Loaders:
    """One set per request, each made on first use (most requests, e.g. a mutation
    answering with its label, use none).

    The context owns its loaders; they reach it through a weak proxy and their batch
    functions are plain functions of it, not bound methods. Either way back would make a
    reference cycle per request, left to the cyclic garbage collector, whose passes pause
    every request in flight.
    """

    def __init__(self, ctx: GatewayContext) -> None:
        self._ctx: GatewayContext = proxy(ctx)

    @cached_property
    def users(self) -> DataLoader[str, UserRecord | None]:
        return DataLoader(partial(_users, self._ctx))

    @cached_property
    def tasks(self) -> DataLoader[str, labeling.TaskView | None]:
        return DataLoader(partial(_tasks, self._ctx))

    @cached_property
    def projects(self) -> DataLoader[str, labeling.ProjectView | None]:
        return DataLoader(partial(_projects, self._ctx))

    @cached_property
    def data_rows(self) -> DataLoader[str, labeling.DataRowView | None]:
        return DataLoader(partial(_data_rows, self._ctx))

    @cached_property
    def label_scores(self) -> DataLoader[str, review.LabelScore | None]:
        return DataLoader(partial(_scores, self._ctx))

    @cached_property
    def reviews(self) -> DataLoader[str, list[review.ReviewEntry]]:
        return DataLoader(partial(_reviews, self._ctx))

    @cached_property
    def issues(self) -> DataLoader[tuple[str, str], list[review.IssueView]]:
        return DataLoader(partial(_issues, self._ctx))

    @cached_property
    def histories(self) -> DataLoader[str, list[RecordedEvent]]:
        return DataLoader(partial(_histories, self._ctx), max_batch_size=500)

    @cached_property
    def datasets(self) -> DataLoader[str, ingest.DatasetView | None]:
        return DataLoader(partial(_datasets, self._ctx))

    @cached_property
    def leaderboards(self) -> DataLoader[str, review.LeaderboardView]:
        return self._review("leaderboard", review.LeaderboardRequest, review.LeaderboardView)

    @cached_property
    def agreements(self) -> DataLoader[str, review.AgreementReport]:
        return self._review("agreement", review.AgreementRequest, review.AgreementReport)

    def _review(
        self, operation: str, request: Callable[..., Any], answer: type[V]
    ) -> DataLoader[str, V]:
        return DataLoader(partial(_per_project, self._ctx, operation, request, answer))


async def _per_project(
    ctx: GatewayContext,
    operation: str,
    request_type: Callable[..., Any],
    response_type: type[Any],
    ids: Sequence[str],
) -> list[Any]:
    """A review computation per distinct project, however many aliases ask for it (review
    answers one project a call). A refusal is that project's answer."""

    async def one(project_id: str) -> Any:
        try:
            return await ctx.call(
                "review",
                operation,
                request_type(project_id=project_id),
                response_type=response_type,
            )
        except PreflogError as exc:
            return exc

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def _users(ctx: GatewayContext, ids: Sequence[str]) -> list[UserRecord | None]:
    found = await ctx.gateway.accounts.users_by_ids(ctx.identity.org_id, list(ids))
    return [found.get(i) for i in ids]


async def _by_id(
    ctx: GatewayContext,
    service: str,
    operation: str,
    request: Any,
    response_type: type[list[HasId]],
    ids: Sequence[str],
) -> list[HasId | None]:
    """One batch call answering the views it found; None where an id has none."""
    views = await ctx.call(service, operation, request, response_type=response_type)
    by_id = {v.id: v for v in views}
    return [by_id.get(i) for i in ids]


async def _tasks(ctx: GatewayContext, ids: Sequence[str]) -> list[labeling.TaskView | None]:
    request = labeling.IdsRequest(ids=list(ids))
    return await _by_id(ctx, "labeling", "get_tasks", request, list[labeling.TaskView], ids)


async def _projects(ctx: GatewayContext, ids: Sequence[str]) -> list[labeling.ProjectView | None]:
    # No batch operation for projects; a page holds tasks of very few projects.
    async def one(pid: str) -> labeling.ProjectView | None:
        try:
            return await ctx.call(
                "labeling",
                "get_project",
                labeling.ProjectRef(project_id=pid),
                response_type=labeling.ProjectView,
            )
        except NotFound:
            return None

    return list(await asyncio.gather(*(one(i) for i in ids)))


async def _data_rows(ctx: GatewayContext, ids: Sequence[str]) -> list[labeling.DataRowView | None]:
    request = labeling.IdsRequest(ids=list(ids))
    return await _by_id(ctx, "labeling", "get_data_rows", request, list[labeling.DataRowView], ids)


async def _datasets(ctx: GatewayContext, ids: Sequence[str]) -> list[ingest.DatasetView | None]:
    request = ingest.IdsRequest(ids=list(ids))
    return await _by_id(ctx, "ingest", "get_datasets", request, list[ingest.DatasetView], ids)


async def _scores(ctx: GatewayContext, ids: Sequence[str]) -> list[review.LabelScore | None]:
    async def fetch(batch: Sequence[str]) -> list[review.LabelScore | None]:
        out = await ctx.call(
            "review",
            "label_scores",
            review.LabelScoresRequest(label_ids=list(batch)),
            response_type=review.LabelScores,
        )
        by_id = {s.label_id: s for s in out.labels}
        return [by_id.get(i) for i in batch]

    return await unknown_to_review_as_empty(ids, fetch, None)


async def _reviews(ctx: GatewayContext, ids: Sequence[str]) -> list[list[review.ReviewEntry]]:
    async def fetch(batch: Sequence[str]) -> list[list[review.ReviewEntry]]:
        out = await ctx.call(
            "review",
            "get_reviews",
            review.GetReviews(label_ids=list(batch)),
            response_type=review.ReviewHistory,
        )
        by_id = {r.label_id: r.reviews for r in out.labels}
        return [by_id.get(i, []) for i in batch]

    return await unknown_to_review_as_empty(ids, fetch, [])


async def _histories(ctx: GatewayContext, ids: Sequence[str]) -> list[list[RecordedEvent]]:
    from preflog_gateway.graphql.audit import task_histories

    return await task_histories(ctx, ids)


async def _issues(
    ctx: GatewayContext, keys: Sequence[tuple[str, str]]
) -> list[list[review.IssueView]]:
    # One listing per project, of the batch's tasks only (by the issues' task index), split
    # by task: listing every issue of the project cost as much as the project had.
    by_task: dict[str, list[review.IssueView]] = {}
    tasks_of: dict[str, list[str]] = {}
    for project_id, task_id in keys:
        tasks_of.setdefault(project_id, []).append(task_id)
    listings = [
        (project_id, chunk)
        for project_id, task_ids in tasks_of.items()
        for chunk in _chunks(sorted(set(task_ids)), 500)
    ]
    for project_id, chunk in listings:
        after: str | None = None
        while True:
            page = await ctx.call(
                "review",
                "list_issues",
                review.ListIssues(
                    project_id=project_id,
                    task_ids=chunk,
                    status="ALL",
                    first=500,
                    after=after,
                ),
                response_type=review.IssueList,
            )
            for issue in page.issues:
                by_task.setdefault(issue.task_id, []).append(issue)
            if page.next_cursor is None or not page.issues:
                break
            after = page.next_cursor
    return [by_task.get(t, []) for _, t in keys]


def _chunks(items: list[str], size: int) -> list[list[str]]:
    return [items[i : i + size] for i in range(0, len(items), size)]
