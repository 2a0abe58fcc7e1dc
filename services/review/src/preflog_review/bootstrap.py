"""Composition root of the review service."""

from __future__ import annotations

from preflog_eventstore import ProjectionRunner
from preflog_messaging.runtime import Runtime, ServiceParts
from preflog_review.adapters import rpc_endpoints
from preflog_review.adapters.intake import INTAKE_TYPES, Intake
from preflog_review.adapters.projection import OwnEventsProjection
from preflog_review.adapters.queries import ReviewQueries
from preflog_review.adapters.read_model import FOREIGN_CATEGORIES
from preflog_review.adapters.scoring import agreement_backfill_loop, agreement_fold_loop
from preflog_review.handlers.issue_actions import IssueActions
from preflog_review.handlers.review_actions import ReviewActions

INTAKE_DURABLE = "review_intake"


async def build(runtime: Runtime) -> ServiceParts:
    """RPC ``review.*``, the intake of labeling and ingest events, the own-events projection."""
    server = runtime.rpc_server("review")
    rpc_endpoints.register(
        server,
        ReviewActions(runtime.store),
        IssueActions(runtime.store),
        ReviewQueries(runtime.pool),
    )
    intake = Intake(runtime.store)
    return ServiceParts(
        name="review",
        rpc=server,
        projections=[ProjectionRunner(runtime.store, OwnEventsProjection())],
        # Short intake transactions: a submitted label updates up to N(N-1)/2 pair-count
        # rows, and one long transaction re-updating the same rows grows their version chains
        # (measured: 1M comparisons took 50 s with 256 per batch, 19-23 s with 8-32). The
        # fetches stay large: most of what this durable reads (ranks, crowns, answers) is
        # skipped unread, and a fetch of 16 cost a round trip for about two events applied.
        consumers=[
            runtime.consumer(
                INTAKE_DURABLE, intake.handle, FOREIGN_CATEGORIES, types=INTAKE_TYPES, apply_size=16
            )
        ],
        loops=[agreement_backfill_loop(runtime.pool), agreement_fold_loop(runtime.pool)],
    )
