"""The whole review flow with everyone acting at once, through the gateway: annotators
drain a consensus queue and rework what is rejected while two reviewers approve and reject
the same labels. Whatever interleaves, every task ends DONE with every label approved, and
every service's view of every task, and the project's progress, agree with the log."""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from typing import Any

from preflog_contracts.identity import Identity
from preflog_contracts.rpc import review
from preflog_review.adapters.queries import ReviewQueries
from preflog_review.adapters.rebuild import rebuild_read_model
from preflog_review.adapters.tables import LIVE

from .conftest import Server
from .flows import (
    CLAIM,
    CROWN,
    SUBMIT,
    add_rows,
    data_of,
    eventually,
    import_rows,
    new_dataset,
    new_member,
    new_project,
    shopping_row,
)

ROWS = 8
LABELS_PER_ROW = 2
USER_ERRORS = {"INVALID_INPUT", "CONFLICT", "FORBIDDEN"}
"""What a user acting at the same moment as others may be told: the label was decided, the
task moved on, or the lease went elsewhere. Anything else is a failure of the system."""

RANK = "mutation($t: ID!, $k: [RankInput!]!) { rankResponses(taskId: $t, ranking: $k) { id } }"
MY_LABEL = """query($t: ID!) { task(id: $t) { status
  myLabel { id status } dataRow { prompts { responses { id } } } } }"""
TASKS = """query($p: ID!, $s: TaskStatus) { project(id: $p) {
  progress { toLabel inReview inRework done skipped }
  tasks(status: $s, first: 500) { edges { node { id status labels { id status } } } } } }"""
APPROVE = "mutation($l: ID!) { approveLabel(labelId: $l) { status } }"
REJECT = 'mutation($l: ID!) { rejectLabel(labelId: $l, reason: "look again") { status } }'


class Failures(list[Any]):
    def check(self, body: dict[str, Any], what: str) -> dict[str, Any] | None:
        """The body's data, or None after an error a user may get; any other error is kept."""
        errors = body.get("errors") or []
        codes = {(e.get("extensions") or {}).get("code") for e in errors}
        if not errors:
            data: dict[str, Any] = body["data"]
            return data
        if not codes <= USER_ERRORS:
            self.append((what, errors))
        return None


async def test_reviewers_and_reworking_annotators_at_once_leave_every_count_true(
    system: Server,
) -> None:
    dataset_id = await new_dataset(system)
    tag = uuid.uuid4().hex[:8]
    imported = await import_rows(
        system, dataset_id, [shopping_row(f"rf-{tag}-{i}") for i in range(ROWS)]
    )
    project_id = await new_project(
        system,
        qualityMode="CONSENSUS",
        consensusLabelCount=LABELS_PER_ROW,
        consensusCoverage=1.0,
        settings={"reviewRequired": True},
    )
    task_ids = await add_rows(system, project_id, imported["dataRowIds"])
    annotators = [(await new_member(system, project_id, "ANNOTATOR"))[1] for _ in range(3)]
    reviewers = [(await new_member(system, project_id, "REVIEWER"))[1] for _ in range(2)]
    failures = Failures()
    rejected: set[str] = set()  # each label is rejected at most once, so the flow ends
    finished = asyncio.Event()

    async def crown_and_submit(
        token: str, task_id: str, responses: list[str], rnd: random.Random
    ) -> None:
        order = rnd.sample(responses, len(responses))
        ranking = [{"responseId": r, "rank": k + 1} for k, r in enumerate(order)]
        for query, variables, what in (
            (RANK, {"t": task_id, "k": ranking}, "rank"),
            (CROWN, {"t": task_id, "r": order[0]}, "crown"),
            (SUBMIT, {"t": task_id}, "submit"),
        ):
            if failures.check(await system.gql(query, variables, token=token), what) is None:
                return

    async def annotate(k: int, token: str) -> None:
        rnd = random.Random(k)
        mine: list[str] = []
        while True:  # the queue, until it is empty for this annotator
            claimed = failures.check(
                await system.gql(CLAIM, {"p": project_id}, token=token), "claim"
            )
            if claimed is None:
                continue
            task = claimed["claimNextTask"]
            if task is None:
                break
            mine.append(task["id"])
            responses = [r["id"] for r in task["dataRow"]["prompts"][0]["responses"]]
            await crown_and_submit(token, task["id"], responses, rnd)
        while not finished.is_set():  # rework, until every task is done
            for task_id in mine:
                got = failures.check(
                    await system.gql(MY_LABEL, {"t": task_id}, token=token), "task"
                )
                if (
                    got
                    and got["task"]["myLabel"]
                    and got["task"]["myLabel"]["status"] == "REJECTED"
                ):
                    responses = [r["id"] for r in got["task"]["dataRow"]["prompts"][0]["responses"]]
                    await crown_and_submit(token, task_id, responses, rnd)
            await asyncio.sleep(0.05)

    async def review(k: int, token: str) -> None:
        rnd = random.Random(100 + k)
        while not finished.is_set():
            page = failures.check(
                await system.gql(TASKS, {"p": project_id, "s": "IN_REVIEW"}, token=token), "tasks"
            )
            for edge in (page or {}).get("project", {}).get("tasks", {}).get("edges", []):
                for label in edge["node"]["labels"]:
                    if label["status"] != "SUBMITTED":
                        continue
                    if label["id"] not in rejected and rnd.random() < 0.4:
                        rejected.add(label["id"])
                        failures.check(
                            await system.gql(REJECT, {"l": label["id"]}, token=token), "reject"
                        )
                    else:
                        failures.check(
                            await system.gql(APPROVE, {"l": label["id"]}, token=token), "approve"
                        )
            await asyncio.sleep(0.02)

    async def all_done() -> None:
        for _ in range(600):
            page = data_of(await system.gql(TASKS, {"p": project_id, "s": None}))
            edges = page["project"]["tasks"]["edges"]
            if len(edges) == ROWS and all(e["node"]["status"] == "DONE" for e in edges):
                break
            if failures:
                break
            await asyncio.sleep(0.1)
        finished.set()

    await asyncio.gather(
        *(annotate(k, t) for k, t in enumerate(annotators)),
        *(review(k, t) for k, t in enumerate(reviewers)),
        all_done(),
    )
    assert failures == []
    assert rejected, "no label was rejected: the flow did not exercise rework"

    final = data_of(await system.gql(TASKS, {"p": project_id, "s": None}))["project"]
    statuses = {e["node"]["id"]: e["node"]["status"] for e in final["tasks"]["edges"]}
    assert statuses == dict.fromkeys(task_ids, "DONE")
    for edge in final["tasks"]["edges"]:
        labels = edge["node"]["labels"]
        assert [lab["status"] for lab in labels] == ["APPROVED"] * LABELS_PER_ROW, edge
    assert final["progress"] == {
        "toLabel": 0,
        "inReview": 0,
        "inRework": 0,
        "done": ROWS,
        "skipped": 0,
    }

    pool = system.runtime.pool
    query = (
        "select t.task_id, t.status, t.submitted_labels,"
        " (select count(*) from labeling.assignments a where a.task_id = t.task_id"
        "   and a.label_status <> 'DRAFT') as submitted,"
        " (select status from review.tasks r where r.task_id = t.task_id) as review_status"
        " from labeling.tasks t where t.project_id = $1"
    )
    for _ in range(200):  # review's own read model of the workflow follows a moment later
        rows = await pool.fetch(query, project_id)
        if all(r["review_status"] == "DONE" for r in rows):
            break
        await asyncio.sleep(0.05)
    for row in rows:
        assert (row["status"], row["review_status"]) == ("DONE", "DONE"), dict(row)
        assert row["submitted_labels"] == row["submitted"] == LABELS_PER_ROW, dict(row)
    await _review_scores_match_a_rebuild(system, project_id)
    await _the_export_holds_each_labels_last_submission(system, project_id, task_ids)


async def _the_export_holds_each_labels_last_submission(
    system: Server, project_id: str, task_ids: list[str]
) -> None:
    """The native export: each task once, done, with its two labels approved, each with the
    crowns and rankings of its last submission in the log (not an earlier, rejected one)."""
    rows = await system.runtime.pool.fetch(
        "select distinct on (label_id) label_id, data->'snapshot' as snapshot from eventlog.events"
        " where project_id = $1 and event_type = 'LabelSubmitted'"
        " order by label_id, global_position desc",
        project_id,
    )
    last = {r["label_id"]: json.loads(r["snapshot"]) for r in rows}
    headers = {"authorization": f"Bearer {system.admin_token}"}
    records: list[dict[str, Any]] = []
    for _ in range(200):  # the export's read model follows a moment later
        r = await system.http.get(
            f"/v1/projects/{project_id}/export", params={"format": "native"}, headers=headers
        )
        assert r.status_code == 200, r.text
        records = [json.loads(line) for line in r.text.splitlines() if line.strip()][:-1]
        settled = len(records) == ROWS and all(
            rec["workflow_status"] == "DONE"
            and [lab["status"] for lab in rec["labels"]] == ["APPROVED"] * LABELS_PER_ROW
            and all(lab["crowns"] == last[lab["label_id"]]["crowns"] for lab in rec["labels"])
            for rec in records
        )
        if settled:
            break
        await asyncio.sleep(0.05)
    assert sorted(rec["task_id"] for rec in records) == sorted(task_ids)
    for rec in records:
        assert rec["workflow_status"] == "DONE", rec["task_id"]
        for lab in rec["labels"]:
            assert lab["status"] == "APPROVED", lab
            assert lab["crowns"] == last[lab["label_id"]]["crowns"], lab["label_id"]
            logged = [  # the log keeps a ranking's entries as [response id, rank]
                {
                    "prompt_id": r["prompt_id"],
                    "ranking": [{"response_id": i, "rank": k} for i, k in r["ranking"]],
                }
                for r in last[lab["label_id"]]["rankings"]
            ]
            assert lab["rankings"] == logged, lab["label_id"]


async def _review_scores_match_a_rebuild(system: Server, project_id: str) -> None:
    """Review kept its scores (consensus, pair counts, agreement) incrementally while labels
    were rejected and resubmitted at once; replaying the log from the start gives the same."""
    pool = system.runtime.pool
    for _ in range(200):  # review's read model of its own decisions follows a moment later
        pending = await pool.fetchval(
            "select count(*) from review.labels where project_id = $1 and status <> 'APPROVED'",
            project_id,
        )
        if pending == 0:
            break
        await asyncio.sleep(0.05)
    assert pending == 0
    org_id = str(
        await pool.fetchval("select org_id from review.projects where project_id = $1", project_id)
    )
    admin = Identity(user_id="admin", org_id=org_id, org_role="ADMIN")
    shadow = await rebuild_read_model(system.runtime.store, suffix=f"__rb{uuid.uuid4().hex[:6]}")
    try:
        live_q, rebuilt_q = ReviewQueries(pool, LIVE), ReviewQueries(pool, shadow)
        labels = [
            r["label_id"]
            for r in await pool.fetch(
                "select label_id from review.labels where project_id = $1", project_id
            )
        ]
        tasks = [
            r["task_id"]
            for r in await pool.fetch(
                "select task_id from review.tasks where project_id = $1", project_id
            )
        ]
        for name, req in (
            ("leaderboard", review.LeaderboardRequest(project_id=project_id)),
            ("agreement", review.AgreementRequest(project_id=project_id)),
            ("label_scores", review.LabelScoresRequest(label_ids=labels)),
            ("task_scores", review.TaskScoresRequest(task_ids=tasks)),
        ):
            assert await getattr(live_q, name)(admin, req) == await getattr(rebuilt_q, name)(
                admin, req
            ), name
        board = await live_q.leaderboard(admin, review.LeaderboardRequest(project_id=project_id))
        assert board.comparisons > 0
        for table, columns in (
            ("pair_counts", "*"),
            (
                "labels",
                "label_id, status, consensus::text, consensus_score, outcomes::text,"
                " rejection_reason",
            ),
            ("tasks", "task_id, status, consensus::text, consensus_score, agreement::text"),
        ):
            live_sql = f"select {columns} from {getattr(LIVE, table)} where project_id = $1"
            shadow_sql = f"select {columns} from {getattr(shadow, table)} where project_id = $1"
            differ = await pool.fetchval(
                f"select count(*) from (({live_sql} except {shadow_sql})"
                f" union all ({shadow_sql} except {live_sql})) d",
                project_id,
            )
            assert differ == 0, table
    finally:
        for name in shadow.all():
            await pool.execute(f"drop table if exists {name}")


async def test_without_review_a_consensus_task_is_done_once_it_has_its_labels(
    system: Server,
) -> None:
    dataset_id = await new_dataset(system)
    imported = await import_rows(system, dataset_id, [shopping_row(f"ro-{uuid.uuid4().hex[:8]}")])
    project_id = await new_project(
        system,
        qualityMode="CONSENSUS",
        consensusLabelCount=2,
        consensusCoverage=1.0,
        settings={"reviewRequired": False},
    )
    [task_id] = await add_rows(system, project_id, imported["dataRowIds"])
    first, second = [(await new_member(system, project_id, "ANNOTATOR"))[1] for _ in range(2)]
    status = "query($t: ID!) { task(id: $t) { status submittedLabels } }"

    async def label(token: str) -> None:
        task = data_of(await system.gql(CLAIM, {"p": project_id}, token=token))["claimNextTask"]
        assert task["id"] == task_id
        response = task["dataRow"]["prompts"][0]["responses"][0]["id"]
        data_of(await system.gql(CROWN, {"t": task_id, "r": response}, token=token))
        data_of(await system.gql(SUBMIT, {"t": task_id}, token=token))

    await label(first)

    async def taken_by_review() -> bool | None:
        submitted = await system.runtime.pool.fetchval(
            "select count(*) from review.labels where task_id = $1 and submitted_position > 0",
            task_id,
        )
        return True if submitted else None

    # Once review has taken the submission in, it has said all it will about it: nothing.
    await eventually(taken_by_review, "review to take the first label in")
    assert (
        await system.runtime.pool.fetchval(
            "select count(*) from eventlog.events where stream_name = $1", f"workflow-{task_id}"
        )
        == 0
    )
    assert data_of(await system.gql(status, {"t": task_id}))["task"] == {
        "status": "TO_LABEL",
        "submittedLabels": 1,
    }
    await label(second)

    async def done() -> bool | None:
        got = data_of(await system.gql(status, {"t": task_id}))["task"]
        return True if got == {"status": "DONE", "submittedLabels": 2} else None

    await eventually(done, "the task done with two labels")
