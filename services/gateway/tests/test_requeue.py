"""A manager's ``requeueTask``: a skipped task back in the queue, and a task in rework that
nobody will rework (its author left, or stopped working) back in the queue with its rejected
label dropped, so that another annotator labels it and it can finish."""

from __future__ import annotations

import asyncio
import json
import uuid
from typing import Any

from .conftest import Server
from .flows import (
    CLAIM,
    CROWN,
    SUBMIT,
    add_rows,
    data_of,
    errors_of,
    eventually,
    import_rows,
    new_dataset,
    new_member,
    new_project,
    shopping_row,
)

SKIP = 'mutation($t: ID!) { skipTask(taskId: $t, reason: "unclear") { status } }'
REQUEUE = (
    "mutation($t: ID!, $k: String) { requeueTask(taskId: $t, idempotencyKey: $k) { id status } }"
)
APPROVE = "mutation($l: ID!) { approveLabel(labelId: $l) { status } }"
REJECT = 'mutation($l: ID!) { rejectLabel(labelId: $l, reason: "wrong crown") { status } }'
TASK = """query($t: ID!) { task(id: $t) { status labels { id status author { id } } } }"""
PROGRESS = "query($p: ID!) { project(id: $p) { progress { toLabel inReview inRework done } } }"


def code_of(body: dict[str, Any]) -> str | None:
    errors = errors_of(body)
    return (errors[0].get("extensions") or {}).get("code") if errors else None


async def _project_of_one_row(system: Server, labels_per_row: int) -> tuple[str, str]:
    dataset_id = await new_dataset(system)
    imported = await import_rows(system, dataset_id, [shopping_row(f"rq-{uuid.uuid4().hex[:8]}")])
    project_id = await new_project(
        system,
        qualityMode="CONSENSUS",
        consensusLabelCount=labels_per_row,
        consensusCoverage=1.0,
        settings={"reviewRequired": True},
    )
    [task_id] = await add_rows(system, project_id, imported["dataRowIds"])
    return project_id, task_id


async def _claimed(system: Server, project_id: str, token: str) -> dict[str, Any] | None:
    task: dict[str, Any] | None = data_of(await system.gql(CLAIM, {"p": project_id}, token=token))[
        "claimNextTask"
    ]
    return task


async def _label_it(system: Server, task: dict[str, Any], token: str) -> str:
    """Crown the first response and submit; the label's id."""
    response = task["dataRow"]["prompts"][0]["responses"][0]["id"]
    data_of(await system.gql(CROWN, {"t": task["id"], "r": response}, token=token))
    return str(
        data_of(await system.gql(SUBMIT, {"t": task["id"]}, token=token))["submitLabel"]["id"]
    )


async def _status(system: Server, task_id: str, want: str) -> str | None:
    got = data_of(await system.gql(TASK, {"t": task_id}))["task"]["status"]
    return want if got == want else None


async def test_a_task_in_rework_nobody_reworks_is_requeued_and_finished_by_another(
    system: Server,
) -> None:
    project_id, task_id = await _project_of_one_row(system, labels_per_row=2)
    (a_id, a), (b_id, b), (c_id, c) = [
        await new_member(system, project_id, "ANNOTATOR") for _ in range(3)
    ]
    _, reviewer = await new_member(system, project_id, "REVIEWER")

    claimed_a = await _claimed(system, project_id, a)
    claimed_b = await _claimed(system, project_id, b)
    assert claimed_a and claimed_b and claimed_a["id"] == claimed_b["id"] == task_id
    label_a = await _label_it(system, claimed_a, a)
    label_b = await _label_it(system, claimed_b, b)
    await eventually(lambda: _status(system, task_id, "IN_REVIEW"), "the task in review")
    assert data_of(await system.gql(REJECT, {"l": label_a}, token=reviewer))
    assert data_of(await system.gql(APPROVE, {"l": label_b}, token=reviewer))
    await eventually(lambda: _status(system, task_id, "IN_REWORK"), "the task in rework")

    # Nobody but a manager requeues; a task in rework is not claimable meanwhile.
    assert code_of(await system.gql(REQUEUE, {"t": task_id}, token=c)) == "FORBIDDEN"
    assert code_of(await system.gql(REQUEUE, {"t": task_id}, token=reviewer)) == "FORBIDDEN"
    assert await _claimed(system, project_id, c) is None

    key = uuid.uuid4().hex
    answers = await asyncio.gather(
        *(system.gql(REQUEUE, {"t": task_id, "k": key}) for _ in range(3))
    )
    assert [data_of(x)["requeueTask"] for x in answers] == [
        {"id": task_id, "status": "TO_LABEL"}
    ] * 3
    dropped = await system.runtime.pool.fetch(
        "select data->'dropped_label_ids' as d from eventlog.events"
        " where task_id = $1 and event_type = 'TaskStatusChanged'"
        " and data->>'to_status' = 'TO_LABEL'",
        task_id,
    )
    assert [json.loads(r["d"]) for r in dropped] == [[label_a]]  # one requeue, of a's label

    # The answer came once labeling had learned of the drop: a may no longer rework the
    # dropped label, nor claim the task again; c claims it, and b keeps their approved label.
    response = claimed_a["dataRow"]["prompts"][0]["responses"][1]["id"]
    crown_again = await system.gql(CROWN, {"t": task_id, "r": response}, token=a)
    assert code_of(crown_again) == "FORBIDDEN"
    assert "dropped" in errors_of(crown_again)[0]["message"]
    claimed_c = await _claimed(system, project_id, c)
    assert claimed_c is not None and claimed_c["id"] == task_id
    assert await _claimed(system, project_id, a) is None
    label_c = await _label_it(system, claimed_c, c)
    await eventually(lambda: _status(system, task_id, "IN_REVIEW"), "the task in review again")
    assert data_of(await system.gql(APPROVE, {"l": label_c}, token=reviewer))
    await eventually(lambda: _status(system, task_id, "DONE"), "the task done")

    task = data_of(await system.gql(TASK, {"t": task_id}))["task"]
    assert {lab["id"]: (lab["author"]["id"], lab["status"]) for lab in task["labels"]} == {
        label_a: (a_id, "REJECTED"),
        label_b: (b_id, "APPROVED"),
        label_c: (c_id, "APPROVED"),
    }
    progress = data_of(await system.gql(PROGRESS, {"p": project_id}))["project"]["progress"]
    assert progress == {"toLabel": 0, "inReview": 0, "inRework": 0, "done": 1}
    pool = system.runtime.pool
    counted = await pool.fetchrow(
        "select t.submitted_labels, r.status as review_status from labeling.tasks t"
        " join review.tasks r using (task_id) where t.task_id = $1",
        task_id,
    )
    assert dict(counted) == {"submitted_labels": 2, "review_status": "DONE"}
    assert (
        await pool.fetchval("select status from review.labels where label_id = $1", label_a)
        == "REJECTED"
    )
    await _the_export_drops_the_label(
        system, project_id, {label_a: "REJECTED", label_b: "APPROVED", label_c: "APPROVED"}
    )

    # Done: nothing to requeue.
    assert code_of(await system.gql(REQUEUE, {"t": task_id})) == "INVALID_INPUT"


async def _the_export_drops_the_label(
    system: Server, project_id: str, want: dict[str, str]
) -> None:
    headers = {"authorization": f"Bearer {system.admin_token}"}

    async def settled() -> dict[str, Any] | None:
        r = await system.http.get(
            f"/v1/projects/{project_id}/export",
            params={"format": "native", "status": "ALL"},
            headers=headers,
        )
        assert r.status_code == 200, r.text
        [record] = [json.loads(line) for line in r.text.splitlines() if line.strip()][:-1]
        statuses = {lab["label_id"]: lab["status"] for lab in record["labels"]}
        ok = record["workflow_status"] == "DONE" and statuses == want
        return record if ok else None

    await eventually(settled, "the export with the dropped label rejected")


async def test_a_skipped_task_is_requeued_once_per_key_and_others_are_refused(
    system: Server,
) -> None:
    project_id, task_id = await _project_of_one_row(system, labels_per_row=1)
    _, a = await new_member(system, project_id, "ANNOTATOR")
    _, b = await new_member(system, project_id, "ANNOTATOR")
    claimed = await _claimed(system, project_id, a)
    assert claimed is not None
    # Open with a lease: a requeue ends it; then a skips.
    assert data_of(await system.gql(REQUEUE, {"t": task_id}))["requeueTask"]["status"] == "TO_LABEL"
    claimed = await _claimed(system, project_id, a)
    assert claimed is not None
    assert (
        data_of(await system.gql(SKIP, {"t": task_id}, token=a))["skipTask"]["status"] == "SKIPPED"
    )
    assert await _claimed(system, project_id, b) is None

    key = uuid.uuid4().hex
    answers = await asyncio.gather(
        *(system.gql(REQUEUE, {"t": task_id, "k": key}) for _ in range(3))
    )
    assert [data_of(x)["requeueTask"]["status"] for x in answers] == ["TO_LABEL"] * 3
    requeued = await system.runtime.pool.fetchval(
        "select count(*) from eventlog.events where task_id = $1 and event_type = 'TaskRequeued'",
        task_id,
    )
    assert requeued == 2  # the unkeyed one and the keyed one, once

    # b takes it (once labeling has followed review's status events for the skip and the
    # requeue, which come a moment later), labels and submits: in review, it is requeued by
    # nobody.
    claimed_b = await eventually(lambda: _claimed(system, project_id, b), "b claims the task")
    assert claimed_b["id"] == task_id
    await _label_it(system, claimed_b, b)
    await eventually(lambda: _status(system, task_id, "IN_REVIEW"), "the task in review")
    refused = await system.gql(REQUEUE, {"t": task_id})
    assert code_of(refused) == "INVALID_INPUT"
    assert "in review" in errors_of(refused)[0]["message"]
    # The key's first answer stands even now.
    again = await system.gql(REQUEUE, {"t": task_id, "k": key})
    assert data_of(again)["requeueTask"]["status"] == "TO_LABEL"
