"""Reviews, issues, leaderboard and agreement (owned by review)."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING, Annotated

import strawberry

from preflog_contracts.rpc import review as rpc
from preflog_gateway.graphql.types.enums import IssueStatus
from preflog_gateway.graphql.types.labeling import Target

if TYPE_CHECKING:
    from preflog_gateway.graphql.types.accounts import User

UserRef = Annotated["User", strawberry.lazy("preflog_gateway.graphql.types.accounts")]


async def _user(info: strawberry.Info, user_id: str | None) -> User | None:
    from preflog_gateway.graphql.types.accounts import User

    if not user_id:
        return None
    found = await info.context["ctx"].loaders.users.load(user_id)
    return None if found is None else User.of(found)


@strawberry.type
class Review:
    decision: str = strawberry.field(
        description="APPROVED, REJECTED, MARKED_FOR_REVIEW or BENCHMARK_REFERENCE"
    )
    comment: str | None
    target: Target | None
    question_id: strawberry.ID | None
    created_at: datetime
    reviewer_id: strawberry.Private[str]

    @strawberry.field
    async def reviewer(self, info: strawberry.Info) -> UserRef | None:
        return await _user(info, self.reviewer_id)

    @classmethod
    def of(cls, e: rpc.ReviewEntry) -> Review:
        return cls(
            decision=e.kind,
            comment=e.comment or None,
            target=Target.of(e.target),
            question_id=strawberry.ID(e.question_id) if e.question_id else None,
            created_at=e.at,
            reviewer_id=e.actor_id,
        )


@strawberry.type
class IssueComment:
    id: strawberry.ID
    body: str
    created_at: datetime
    author_id: strawberry.Private[str]

    @strawberry.field
    async def author(self, info: strawberry.Info) -> UserRef | None:
        return await _user(info, self.author_id)


@strawberry.type
class Issue:
    id: strawberry.ID
    status: IssueStatus
    body: str
    target: Target | None
    label_id: strawberry.ID | None
    question_id: strawberry.ID | None
    comments: list[IssueComment]
    resolution: str | None
    created_at: datetime
    author_id: strawberry.Private[str]

    @strawberry.field
    async def author(self, info: strawberry.Info) -> UserRef | None:
        return await _user(info, self.author_id)

    @classmethod
    def of(cls, v: rpc.IssueView) -> Issue:
        return cls(
            id=strawberry.ID(v.id),
            status=IssueStatus(v.status),
            body=v.body,
            target=Target.of(v.target),
            label_id=strawberry.ID(v.label_id) if v.label_id else None,
            question_id=strawberry.ID(v.question_id) if v.question_id else None,
            comments=[
                IssueComment(
                    id=strawberry.ID(c.id),
                    body=c.body,
                    created_at=c.created_at,
                    author_id=c.author_id,
                )
                for c in v.comments
            ],
            resolution=v.resolution or None,
            created_at=v.created_at,
            author_id=v.author_id,
        )


@strawberry.type
class ModelStrength:
    model_config_name: str
    strength: float
    ci_low: float | None
    ci_high: float | None
    wins: int
    losses: int
    ties: int
    comparisons: int


@strawberry.type
class Leaderboard:
    models: list[ModelStrength]
    win_rates: list[list[float | None]]
    comparisons: int

    @classmethod
    def of(cls, v: rpc.LeaderboardView) -> Leaderboard:
        return cls(
            models=[
                ModelStrength(
                    model_config_name=m.model_config_name,
                    strength=m.strength,
                    ci_low=m.ci_low,
                    ci_high=m.ci_high,
                    wins=m.wins,
                    losses=m.losses,
                    ties=m.ties,
                    comparisons=m.comparisons,
                )
                for m in v.models
            ],
            win_rates=v.win_rates,
            comparisons=v.comparisons,
        )


@strawberry.type
class QuestionAlpha:
    question_id: strawberry.ID
    alpha: float | None


@strawberry.type
class AnnotatorAgreement:
    labels: int
    approved: int
    rejected: int
    approval_rate: float | None
    mean_consensus_score: float | None
    benchmark_accuracy: float | None
    crown_agreement: float | None = strawberry.field(
        description="How often their crowns match the other labels' on the same prompts."
    )
    ranking_kendall_tau: float | None = strawberry.field(
        description="Mean Kendall's tau of their rankings against the other labels'."
    )
    answer_agreement: float | None = strawberry.field(
        description="How often their answers match the other labels' (alpha is per question,"
        " over every annotator: see questionAlpha)."
    )
    median_seconds_to_label: float | None = strawberry.field(
        description="From the claim (or the label's start) to its submission."
    )
    annotator_id: strawberry.Private[str]

    @strawberry.field
    async def user(self, info: strawberry.Info) -> UserRef | None:
        return await _user(info, self.annotator_id)


@strawberry.type
class AgreementReport:
    crown_agreement: float | None
    ranking_kendall_tau: float | None
    answer_agreement: float | None
    consensus_score: float | None
    question_alpha: list[QuestionAlpha]
    annotators: list[AnnotatorAgreement]

    @classmethod
    def of(cls, v: rpc.AgreementReport) -> AgreementReport:
        return cls(
            crown_agreement=v.crown_agreement,
            ranking_kendall_tau=v.ranking_kendall_tau,
            answer_agreement=v.answer_agreement,
            consensus_score=v.consensus_score,
            question_alpha=[
                QuestionAlpha(question_id=strawberry.ID(q.question_id), alpha=q.alpha)
                for q in v.question_alpha
            ],
            annotators=[
                AnnotatorAgreement(
                    labels=a.labels,
                    approved=a.approved,
                    rejected=a.rejected,
                    approval_rate=a.approval_rate,
                    mean_consensus_score=a.mean_consensus_score,
                    benchmark_accuracy=a.benchmark_accuracy,
                    crown_agreement=a.crown_agreement,
                    ranking_kendall_tau=a.kendall_tau,
                    answer_agreement=a.answer_agreement,
                    median_seconds_to_label=a.median_seconds_to_label,
                    annotator_id=a.annotator_id,
                )
                for a in v.annotators
            ],
        )
