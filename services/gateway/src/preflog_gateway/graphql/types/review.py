"""Reviews, issues, leaderboard and agreement (owned by review)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from preflog_gateway.graphql.types.enums import IssueStatus
from preflog_gateway.graphql.types.labeling import Comment, Target

if TYPE_CHECKING:
    from preflog_gateway.graphql.types.accounts import User

UserRef = Annotated["User", strawberry.lazy("preflog_gateway.graphql.types.accounts")]


@strawberry.type
class Review:
    decision: str = strawberry.field(description="APPROVED, REJECTED or MARKED_FOR_REVIEW")
    reviewer: UserRef | None
    comment: str | None
    created_at: datetime


@strawberry.type
class Issue:
    id: strawberry.ID
    status: IssueStatus
    body: str
    target: Target | None
    author: UserRef | None
    comments: list[Comment]
    resolution: str | None
    created_at: datetime


@strawberry.type
class ModelStrength:
    model_config_name: str
    strength: float
    ci_low: float
    ci_high: float
    wins: float
    losses: float
    ties: float
    comparisons: int


@strawberry.type
class Leaderboard:
    models: list[ModelStrength]


@strawberry.type
class QuestionAlpha:
    question_id: strawberry.ID
    alpha: float | None


@strawberry.type
class AnnotatorAgreement:
    user: UserRef | None
    labels: int
    crown_agreement: float | None
    ranking_kendall_tau: float | None
    benchmark_accuracy: float | None


@strawberry.type
class AgreementReport:
    crown_agreement: float | None
    ranking_kendall_tau: float | None
    question_alpha: list[QuestionAlpha]
    annotators: list[AnnotatorAgreement]
