"""Requests and answers of the review service (NATS service ``review``).

Operations (request -> answer):

- ``approve_label`` ApproveLabel -> LabelReviewView; ``reject_label`` RejectLabel ->
  LabelReviewView; ``mark_for_review`` MarkForReview -> LabelReviewView;
  ``set_benchmark_reference`` SetBenchmarkReference -> LabelReviewView; ``requeue_rework``
  RequeueRework -> ReworkRequeued
- ``open_issue`` OpenIssue -> IssueView; ``comment_on_issue`` CommentOnIssue -> IssueView;
  ``resolve_issue`` ResolveIssue -> IssueView; ``list_issues`` ListIssues -> IssueList;
  ``get_issues`` GetIssues -> IssueList
- ``review_queue`` ReviewQueueRequest -> ReviewQueue; ``get_reviews`` GetReviews -> ReviewHistory;
  ``get_labels`` GetLabels -> LabelReviewViews; ``get_tasks`` GetTasks -> TaskReviewViews
- ``leaderboard`` LeaderboardRequest -> LeaderboardView; ``agreement`` AgreementRequest ->
  AgreementReport; ``label_scores`` LabelScoresRequest -> LabelScores; ``task_scores``
  TaskScoresRequest -> TaskScores

Field names are snake_case; the gateway renames them to camelCase.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from typing import Literal

import msgspec

from preflog_contracts.events.labels import Target

TaskStatus = Literal["TO_LABEL", "IN_REVIEW", "IN_REWORK", "DONE", "SKIPPED"]
LabelStatus = Literal["DRAFT", "SUBMITTED", "APPROVED", "REJECTED"]


def in_consensus_coverage(task_id: str, coverage: float) -> bool:
    """Whether a task falls inside a consensus project's coverage fraction.

    The rule both labeling (queue) and review (workflow) use, so they agree: the first 8
    bytes of ``sha256(task_id)`` read as a big-endian integer, divided by 2**64, is below
    ``coverage``. Coverage >= 1 covers every task; <= 0 covers none.
    """
    if coverage >= 1.0:
        return True
    if coverage <= 0.0:
        return False
    digest = hashlib.sha256(task_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") / 2.0**64 < coverage


def required_label_count(
    task_id: str, quality_mode: str, consensus_label_count: int, consensus_coverage: float
) -> int:
    """Labels a task needs before it enters review.

    ``CONSENSUS`` projects need ``consensus_label_count`` labels on tasks inside the coverage
    fraction (``in_consensus_coverage``) and 1 elsewhere; ``BENCHMARK`` projects need 1.
    """
    if quality_mode != "CONSENSUS":
        return 1
    if in_consensus_coverage(task_id, consensus_coverage):
        return max(1, consensus_label_count)
    return 1


# ---- review actions -------------------------------------------------------------------


class ApproveLabel(msgspec.Struct, frozen=True, kw_only=True):
    label_id: str
    comment: str = ""


class RejectLabel(msgspec.Struct, frozen=True, kw_only=True):
    label_id: str
    reason: str  # required, non-blank


class MarkForReview(msgspec.Struct, frozen=True, kw_only=True):
    """Flag a label, one answer (``question_id`` + ``target``) or one response (``target``)."""

    label_id: str
    note: str = ""
    target: Target = Target()
    question_id: str | None = None


class SetBenchmarkReference(msgspec.Struct, frozen=True, kw_only=True):
    label_id: str


class ReviewFlag(msgspec.Struct, frozen=True, kw_only=True):
    note: str
    target: Target
    question_id: str | None
    actor_id: str
    at: datetime


class LabelReviewView(msgspec.Struct, frozen=True, kw_only=True):
    """The review side of a label: its status, the reason of its latest rejection, flags."""

    label_id: str
    task_id: str
    project_id: str
    author_id: str
    status: LabelStatus
    task_status: TaskStatus
    rejection_reason: str = ""  # set while the label is REJECTED (visible to its author)
    is_reference: bool = False
    flags: list[ReviewFlag] = msgspec.field(default_factory=list)
    consensus_score: float | None = None
    benchmark_score: float | None = None


class GetLabels(msgspec.Struct, frozen=True, kw_only=True):
    label_ids: list[str]


class LabelReviewViews(msgspec.Struct, frozen=True, kw_only=True):
    labels: list[LabelReviewView]  # in the order asked


class TaskReviewView(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    project_id: str
    data_row_id: str
    status: TaskStatus
    status_reason: str  # e.g. the rejection reason while IN_REWORK
    status_changed_at: datetime | None
    priority: int
    required_labels: int
    submitted_labels: int


class RequeueRework(msgspec.Struct, frozen=True, kw_only=True):
    """A manager sends a task in rework back to the queue, dropping its rejected labels.

    The gateway's ``requeueTask`` tries this first and labeling's ``requeue_task`` when the
    task is not in rework, each with an idempotency key of its own; ``queue_key`` is the one
    it gives labeling's. When that key was used, the call was answered by the queue, and a
    repeat must not requeue the task from rework that it has entered since."""

    task_id: str
    queue_key: str | None = None


class ReworkRequeued(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    project_id: str
    status: TaskStatus
    dropped_label_ids: list[str]


class GetTasks(msgspec.Struct, frozen=True, kw_only=True):
    task_ids: list[str]


class TaskReviewViews(msgspec.Struct, frozen=True, kw_only=True):
    tasks: list[TaskReviewView]


class ReviewQueueRequest(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    first: int = 100  # at most 500
    after: str | None = None  # the ``next_cursor`` of the previous page


class ReviewQueue(msgspec.Struct, frozen=True, kw_only=True):
    """Tasks IN_REVIEW: higher ``priority`` first, then longest waiting first."""

    tasks: list[TaskReviewView]
    next_cursor: str | None = None


class GetReviews(msgspec.Struct, frozen=True, kw_only=True):
    label_ids: list[str]


class ReviewEntry(msgspec.Struct, frozen=True, kw_only=True):
    kind: Literal["APPROVED", "REJECTED", "MARKED_FOR_REVIEW", "BENCHMARK_REFERENCE"]
    actor_id: str
    at: datetime
    comment: str = ""  # approve comment, reject reason or mark note
    target: Target = Target()
    question_id: str | None = None


class LabelReviews(msgspec.Struct, frozen=True, kw_only=True):
    label_id: str
    reviews: list[ReviewEntry]  # oldest first


class ReviewHistory(msgspec.Struct, frozen=True, kw_only=True):
    labels: list[LabelReviews]


# ---- issues ---------------------------------------------------------------------------


class OpenIssue(msgspec.Struct, frozen=True, kw_only=True):
    """An issue on a task, or on a label / response / answer of it."""

    task_id: str
    body: str
    label_id: str | None = None
    target: Target = Target()
    question_id: str | None = None


class CommentOnIssue(msgspec.Struct, frozen=True, kw_only=True):
    issue_id: str
    body: str


class ResolveIssue(msgspec.Struct, frozen=True, kw_only=True):
    issue_id: str
    resolution: str = ""


class IssueComment(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    body: str
    author_id: str
    created_at: datetime


class IssueView(msgspec.Struct, frozen=True, kw_only=True):
    id: str
    project_id: str
    task_id: str
    label_id: str | None
    target: Target
    question_id: str | None
    status: Literal["OPEN", "RESOLVED"]
    body: str
    author_id: str
    created_at: datetime
    comments: list[IssueComment]
    resolution: str = ""
    resolved_by: str | None = None


class ListIssues(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    task_id: str | None = None
    task_ids: list[str] | None = None  # the issues of these tasks only (at most 500)
    status: Literal["OPEN", "ALL"] = "OPEN"
    first: int = 100  # at most 500
    after: str | None = None


class GetIssues(msgspec.Struct, frozen=True, kw_only=True):
    issue_ids: list[str]


class IssueList(msgspec.Struct, frozen=True, kw_only=True):
    issues: list[IssueView]
    next_cursor: str | None = None


# ---- scores ---------------------------------------------------------------------------


class LeaderboardRequest(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str
    bootstrap_rounds: int = 200


class ModelStandingView(msgspec.Struct, frozen=True, kw_only=True):
    model_config_name: str
    strength: float
    ci_low: float | None
    ci_high: float | None
    wins: int
    losses: int
    ties: int
    comparisons: int


class LeaderboardView(msgspec.Struct, frozen=True, kw_only=True):
    models: list[ModelStandingView]  # strongest first
    win_rates: list[list[float | None]]  # rows and columns in ``models`` order
    comparisons: int
    bootstrap_rounds: int
    confidence: float


class AgreementRequest(msgspec.Struct, frozen=True, kw_only=True):
    project_id: str


class QuestionAlphaView(msgspec.Struct, frozen=True, kw_only=True):
    question_id: str
    kind: str
    alpha: float | None
    units: int
    values: int


class AnnotatorView(msgspec.Struct, frozen=True, kw_only=True):
    annotator_id: str
    labels: int
    approved: int
    rejected: int
    approval_rate: float | None
    mean_consensus_score: float | None
    benchmark_accuracy: float | None  # mean benchmark score of the annotator's labels
    median_seconds_to_label: float | None
    # Means of their scored labels' consensus parts (agreement with the task's other labels).
    crown_agreement: float | None = None
    kendall_tau: float | None = None
    answer_agreement: float | None = None


class AgreementReport(msgspec.Struct, frozen=True, kw_only=True):
    crown_agreement: float | None
    ranking_kendall_tau: float | None
    answer_agreement: float | None
    consensus_score: float | None
    label_pairs: int
    question_alpha: list[QuestionAlphaView]
    annotators: list[AnnotatorView]


class Scores(msgspec.Struct, frozen=True, kw_only=True):
    score: float | None
    crown_agreement: float | None
    kendall_tau: float | None
    answer_agreement: float | None


class LabelScore(msgspec.Struct, frozen=True, kw_only=True):
    label_id: str
    task_id: str
    consensus: Scores | None  # None when the label does not count (draft, rejected, reference)
    benchmark: Scores | None  # None without a reference label on its row
    is_reference: bool


class LabelScoresRequest(msgspec.Struct, frozen=True, kw_only=True):
    label_ids: list[str]


class LabelScores(msgspec.Struct, frozen=True, kw_only=True):
    labels: list[LabelScore]


class TaskScore(msgspec.Struct, frozen=True, kw_only=True):
    task_id: str
    consensus: Scores | None
    labels: list[LabelScore]


class TaskScoresRequest(msgspec.Struct, frozen=True, kw_only=True):
    task_ids: list[str]


class TaskScores(msgspec.Struct, frozen=True, kw_only=True):
    tasks: list[TaskScore]
