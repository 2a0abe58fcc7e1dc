"""Scores through the service: consensus, benchmark, leaderboard, agreement, annotator stats;
and a rebuild of the read model from the log gives identical numbers."""

from __future__ import annotations

import asyncio

import pytest

from preflog_contracts.rpc import review as api
from preflog_review.adapters.queries import ReviewQueries
from preflog_review.adapters.rebuild import rebuild_read_model
from preflog_review.adapters.scoring import agreement_backfill_loop, score_unscored
from preflog_review.adapters.tables import LIVE

from .conftest import Org, Service, eventually, snapshot


async def test_scores_update_incrementally_and_rebuild_identically(service: Service) -> None:
    org = Org(service)
    await org.create_project(quality_mode="CONSENSUS", count=2, coverage=1.0)
    reviewer, admin = org.user("reviewer"), org.user("admin")
    t1, row1 = await org.create_task()
    t2, row2 = await org.create_task()
    a = await org.submit(
        t1,
        row1,
        "annotator",
        snapshot("r-model-a", ["r-model-a", "r-model-b", "r-model-c"], "a", 4),
        seconds=100,
    )
    b = await org.submit(
        t1,
        row1,
        "annotator2",
        snapshot("r-model-a", ["r-model-a", "r-model-c", "r-model-b"], "a", 5),
        seconds=40,
    )
    c = await org.submit(
        t2,
        row2,
        "annotator",
        snapshot("r-model-b", ["r-model-b", "r-model-a", "r-model-c"], "b", 2),
        seconds=200,
    )
    d = await org.submit(
        t2,
        row2,
        "annotator2",
        snapshot("r-model-c", ["r-model-c", "r-model-b", "r-model-a"], "a", 1),
        seconds=60,
    )
    e = await org.submit(
        t1,
        row1,
        "annotator3",
        snapshot("r-model-a", ["r-model-a", "r-model-b", "r-model-c"], "a", 4),
        seconds=30,
    )
    for task in (t1, t2):
        await org.wait_status(task, "IN_REVIEW")
    for label in (a, b, c, d, e):
        await org.wait_label(label)

    # Before review every label counts: A, B, E crown a; C crowns b; D crowns c; each crown
    # beats the other two and the label's ranking orders those two (3 outcomes a label).
    board = await service.call(
        reviewer,
        "leaderboard",
        api.LeaderboardRequest(project_id=org.project_id),
        api.LeaderboardView,
    )
    records = {m.model_config_name: (m.wins, m.losses, m.ties) for m in board.models}
    assert records == {"model-a": (7, 3, 0), "model-b": (5, 5, 0), "model-c": (3, 7, 0)}
    assert board.comparisons == 15

    await service.call(
        reviewer,
        "set_benchmark_reference",
        api.SetBenchmarkReference(label_id=e),
        api.LabelReviewView,
    )
    await service.call(
        reviewer, "reject_label", api.RejectLabel(label_id=d, reason="crown"), api.LabelReviewView
    )
    await service.call(reviewer, "approve_label", api.ApproveLabel(label_id=a), api.LabelReviewView)
    await org.wait_label(d, "REJECTED")
    await org.wait_label(a, "APPROVED")

    async def settled() -> api.LeaderboardView | None:
        got = await service.call(
            reviewer,
            "leaderboard",
            api.LeaderboardRequest(project_id=org.project_id),
            api.LeaderboardView,
        )
        return got if got.comparisons == 12 else None

    board = await eventually(settled)
    records = {m.model_config_name: (m.wins, m.losses, m.ties) for m in board.models}
    assert records == {"model-a": (7, 1, 0), "model-b": (4, 4, 0), "model-c": (1, 7, 0)}
    assert [m.model_config_name for m in board.models] == ["model-a", "model-b", "model-c"]

    async def referenced() -> api.LabelScores | None:
        got = await service.call(
            reviewer,
            "label_scores",
            api.LabelScoresRequest(label_ids=[a, b, e, d]),
            api.LabelScores,
        )
        return got if got.labels[2].is_reference and got.labels[0].benchmark else None

    scores = await eventually(referenced)
    sa, sb, se, sd = scores.labels
    assert sa.benchmark is not None and sa.benchmark.crown_agreement == 1.0
    assert sa.benchmark.kendall_tau == pytest.approx(1.0)
    assert sb.benchmark is not None and sb.benchmark.kendall_tau == pytest.approx(1 / 3)
    assert se.benchmark is None and se.consensus is None  # the reference is not scored or counted
    assert sd.consensus is None  # rejected labels do not count towards consensus
    # t1's consensus is now A vs B only (E is the reference): same crown, tau 1/3.
    assert sa.consensus is not None and sa.consensus.crown_agreement == 1.0
    assert sa.consensus.kendall_tau == pytest.approx(1 / 3)

    report = await service.call(
        admin, "agreement", api.AgreementRequest(project_id=org.project_id), api.AgreementReport
    )
    assert report.crown_agreement == 1.0 and report.label_pairs == 1
    assert {q.question_id for q in report.question_alpha} == {"q-helpful", "q-score"}
    stats = {s.annotator_id: s for s in report.annotators}
    first, second = stats[org.user("annotator").user_id], stats[org.user("annotator2").user_id]
    assert (first.labels, first.approved, first.rejected, first.approval_rate) == (2, 1, 0, 1.0)
    assert (second.labels, second.approved, second.rejected, second.approval_rate) == (2, 0, 1, 0.0)
    assert first.median_seconds_to_label == pytest.approx(150, abs=10)
    assert first.benchmark_accuracy == pytest.approx(sa.benchmark.score)
    # Per annotator, the parts of their counting labels' consensus (only A counts for the
    # first: A against B on t1, crowns alike, tau 1/3).
    assert (first.crown_agreement, first.kendall_tau) == (1.0, pytest.approx(1 / 3))
    # Tasks scored before their shares of the agreement were kept: the report works their
    # shares out from their labels until the backfill has scored them again.
    await service.pool.execute(
        "update review.tasks set agreement = null where project_id = $1", org.project_id
    )
    assert (
        await service.call(
            admin, "agreement", api.AgreementRequest(project_id=org.project_id), api.AgreementReport
        )
        == report
    )
    noted = "select count(*) from review.unscored_tasks where project_id = $1"
    assert await service.pool.fetchval(noted, org.project_id) == 2  # migration 0005's trigger
    scored, after = await score_unscored(service.pool, batch=1)
    assert scored == 1 and after is not None
    assert (await score_unscored(service.pool, after=after))[0] == 1
    assert await score_unscored(service.pool) == (0, None)
    assert await service.pool.fetchval(noted, org.project_id) == 0  # done with
    # The service's pass ran at its start and was recorded: a later start makes none.
    await service.pool.execute(
        "update review.tasks set agreement = null where project_id = $1", org.project_id
    )
    unscored = (
        "select count(*) from review.tasks where project_id = $1 and consensus is not null"
        " and agreement is null"
    )
    await agreement_backfill_loop(service.pool)(asyncio.Event())
    assert await service.pool.fetchval(unscored, org.project_id) == 2
    await service.pool.execute("delete from review.backfills")
    await agreement_backfill_loop(service.pool)(asyncio.Event())
    assert await service.pool.fetchval(unscored, org.project_id) == 0
    assert await service.pool.fetchval("select count(*) from review.backfills") == 1
    assert (
        await service.call(
            admin, "agreement", api.AgreementRequest(project_id=org.project_id), api.AgreementReport
        )
        == report
    )

    # The same numbers from the log alone.
    shadow = await rebuild_read_model(service.store)
    live_q, rebuilt_q = ReviewQueries(service.pool, LIVE), ReviewQueries(service.pool, shadow)
    pid = org.project_id
    for q_name, req in (
        ("leaderboard", api.LeaderboardRequest(project_id=pid)),
        ("agreement", api.AgreementRequest(project_id=pid)),
        ("label_scores", api.LabelScoresRequest(label_ids=[a, b, c, d, e])),
        ("task_scores", api.TaskScoresRequest(task_ids=[t1, t2])),
        ("get_labels", api.GetLabels(label_ids=[a, b, c, d, e])),
        ("get_tasks", api.GetTasks(task_ids=[t1, t2])),
        ("get_reviews", api.GetReviews(label_ids=[a, b, c, d, e])),
    ):
        live = await getattr(live_q, q_name)(admin, req)
        rebuilt = await getattr(rebuilt_q, q_name)(admin, req)
        assert live == rebuilt, q_name
    for table, columns, scoped in COMPARED:
        where = " where project_id = $1" if scoped else ""
        live_sql = f"select {columns} from {getattr(LIVE, table)}{where}"
        shadow_sql = f"select {columns} from {getattr(shadow, table)}{where}"
        differ = await service.pool.fetchval(
            f"select count(*) from (({live_sql} except {shadow_sql})"
            f" union all ({shadow_sql} except {live_sql})) d",
            *((pid,) if scoped else ()),
        )
        assert differ == 0, table


# (table, columns, only this project's rows): the whole pair-count table must match.
COMPARED = (
    ("pair_counts", "*", False),
    (
        "labels",
        "label_id, status, consensus::text, consensus_score, benchmark::text, benchmark_score,"
        " outcomes::text, seconds_to_label, is_reference, rejection_reason",
        True,
    ),
    (
        "tasks",
        "task_id, status, status_reason, consensus::text, consensus_score, agreement::text",
        True,
    ),
)
