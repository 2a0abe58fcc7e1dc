"""The task queue: priorities, consensus, concurrent claims, release, skip, requeue, expiry,
and review's status changes coming back through the workflow consumer."""

from __future__ import annotations

import asyncio
import random
import uuid
from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.errors import Conflict, Forbidden, Invalid
from preflog_contracts.events.labels import TaskRequeued
from preflog_contracts.events.review import LabelRejected, TaskStatusChanged
from preflog_contracts.rpc import labeling as api
from preflog_eventstore import ANY, StreamWrite
from preflog_labeling.domain.label_view import label_view
from preflog_labeling.handlers.queue import _literal, _one_claim_at_a_time, claim_next_task, expire_leases_once
from preflog_labeling.handlers.state import Deps
from preflog_messaging import CallContext


async def claim(service: Any, who: Any, project_id: str) -> api.TaskView | None:
    return await service.call(who, "claim_next_task", api.ProjectRef(project_id=project_id), api.TaskView | None)


async def test_priority_then_age(service: Any) -> None:
    org = service.org()
    ann = org.user()
    project, first_rows = await service.project(org, members={ann.user_id: "ANNOTATOR"}, rows=2)
    _, urgent = await service.import_rows(org, 1)
    await service.call(
        org.admin,
        "add_data_rows_to_project",
        api.AddDataRowsRequest(project_id=project.id, data_row_ids=urgent, priority=10),
        api.BatchView,
    )
    order = []
    for _ in range(3):
        task = await claim(service, ann, project.id)
        order.append(task.data_row_id)
        await service.call(ann, "skip_task", api.SkipTaskRequest(task_id=task.id, reason="next"))
    assert order[0] == urgent[0] and sorted(order[1:]) == sorted(first_rows)
    assert await claim(service, ann, project.id) is None


async def test_adding_the_same_rows_twice_makes_no_new_tasks(service: Any) -> None:
    org = service.org()
    project, rows = await service.project(org, rows=2)
    batch = await service.call(
        org.admin,
        "add_data_rows_to_project",
        api.AddDataRowsRequest(project_id=project.id, global_keys=[f"gk-{r}" for r in rows]),
        api.BatchView,
    )
    assert batch.size == 0
    with pytest.raises(Invalid) as err:
        await service.call(
            org.admin,
            "add_data_rows_to_project",
            api.AddDataRowsRequest(project_id=project.id, data_row_ids=["missing"]),
        )
    assert "data_row_ids[0]" in err.value.fields


async def test_concurrent_claimers_never_share_a_lease(service: Any) -> None:
    org = service.org()
    users = [org.user() for _ in range(10)]
    project, _ = await service.project(org, members={u.user_id: "ANNOTATOR" for u in users}, rows=5)
    got = await asyncio.gather(*(claim(service, u, project.id) for u in users))
    tasks = [t.id for t in got if t is not None]
    assert len(tasks) == 5 and len(set(tasks)) == 5


async def test_concurrent_reclaims_by_a_lease_holder_do_not_starve_the_pool(service: Any) -> None:
    # Annotators reloading their page re-claim while holding a lease. Each re-claim once held
    # a connection while waiting for a second one: twice the pool's size of them at once
    # hung the service for good.
    org = service.org()
    ann = org.user()
    project, _ = await service.project(org, members={ann.user_id: "ANNOTATOR"}, rows=2)
    held = await claim(service, ann, project.id)
    assert held is not None
    again = await asyncio.wait_for(asyncio.gather(*(claim(service, ann, project.id) for _ in range(40))), 60)
    assert {t.id for t in again if t is not None} == {held.id}


async def test_consensus_hands_a_task_to_n_different_annotators_once(service: Any) -> None:
    org = service.org()
    users = [org.user() for _ in range(4)]
    project = await service.consensus_project(org, users, labels_per_row=3)
    got = await asyncio.gather(*(claim(service, u, project.id) for u in users))
    holders = [u for u, t in zip(users, got, strict=True) if t is not None]
    assert len(holders) == 3 and len({t.id for t in got if t is not None}) == 1
    task_id = next(t.id for t in got if t is not None)
    for who in holders:
        await service.call(who, "submit_label", api.TaskRef(task_id=task_id), api.LabelView)
        assert await claim(service, who, project.id) is None  # never the same task twice
    await service.settle()
    view = await service.call(org.admin, "get_task", api.TaskRef(task_id=task_id), api.TaskView)
    assert view.status == "IN_REVIEW" and view.submitted_labels == 3 and len(view.labels) == 3


async def test_consensus_coverage_is_a_fraction_of_rows(service: Any) -> None:
    org = service.org()
    project, _ = await service.project(
        org, rows=40, quality_mode="CONSENSUS", consensus_label_count=2, consensus_coverage=0.5
    )
    page = await service.call(
        org.admin, "list_tasks", api.ListTasksRequest(project_id=project.id, first=500), api.TaskPage
    )
    needs = [t.required_labels for t in page.items]
    assert set(needs) == {1, 2} and len(needs) == 40


async def test_release_skip_requeue(service: Any) -> None:
    org = service.org()
    a, b = org.user(), org.user()
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR", b.user_id: "ANNOTATOR"}, rows=1)
    task = await claim(service, a, project.id)
    released = await service.call(a, "release_task", api.TaskRef(task_id=task.id), api.TaskView)
    assert released.leased_by is None
    with pytest.raises(Forbidden):
        await service.call(a, "release_task", api.TaskRef(task_id=task.id))
    again = await claim(service, a, project.id)
    assert again.id == task.id and again.my_label.id == task.my_label.id  # the draft stays theirs
    skipped = await service.call(a, "skip_task", api.SkipTaskRequest(task_id=task.id, reason="offensive"), api.TaskView)
    assert skipped.status == "SKIPPED"
    assert await claim(service, b, project.id) is None
    with pytest.raises(Forbidden):
        await service.call(a, "requeue_task", api.TaskRef(task_id=task.id))
    requeued = await service.call(org.admin, "requeue_task", api.TaskRef(task_id=task.id), api.TaskView)
    assert requeued.status == "TO_LABEL"
    assert await claim(service, a, project.id) is None  # the skipper is not offered it again
    assert (await claim(service, b, project.id)).id == task.id


async def test_expired_leases_return_to_the_queue(service: Any) -> None:
    org = service.org()
    a, b = org.user(), org.user()
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR", b.user_id: "ANNOTATOR"}, rows=1)
    # A lease of zero seconds, through the handler itself (the running service leases for 30 min).
    deps = Deps(
        store=service.rt.store,
        pool=service.rt.pool,
        settings=msgspec.structs.replace(service.rt.settings, lease_seconds=0),
    )
    task = await claim_next_task(deps, CallContext(identity=a), api.ProjectRef(project_id=project.id))
    assert task is not None

    async def released() -> list[str]:
        recs = await service.rt.store.read_stream(stream_name("task", task.id))
        return [r.event_type for r in recs if r.event_type == "TaskReleased" and b'"expired"' in bytes(r.data)]

    await service.eventually(released, ["TaskReleased"])  # the service's expiry loop did it
    with pytest.raises(Forbidden):
        await service.call(a, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r0"))
    assert (await claim(service, b, project.id)).id == task.id


async def test_rework_from_review_lets_the_author_resubmit(service: Any) -> None:
    org = service.org()
    a = org.user()
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR"}, rows=1)
    task = await claim(service, a, project.id)
    await service.call(a, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r0"))
    label = await service.call(a, "submit_label", api.TaskRef(task_id=task.id), api.LabelView)
    review = Metadata(
        actor_id="reviewer-1", actor_role="REVIEWER", project_id=project.id, task_id=task.id, label_id=label.id
    )
    await service.rt.store.append(
        StreamWrite(
            stream_name("workflow", str(uuid.uuid4())),
            [
                LabelRejected(label_id=label.id, task_id=task.id, project_id=project.id, reason="wrong crown"),
                TaskStatusChanged(
                    task_id=task.id, project_id=project.id, from_status="IN_REVIEW", to_status="IN_REWORK"
                ),
            ],
        ),
        org_id=org.org_id,
        metadata=review,
    )

    async def status() -> str:
        return str(await service.rt.pool.fetchval("select status from labeling.tasks where task_id = $1", task.id))

    await service.eventually(status, "IN_REWORK")
    await service.settle()
    view = await service.call(a, "get_task", api.TaskRef(task_id=task.id), api.TaskView)
    assert view.my_label.status == "REJECTED"
    relabel = await service.call(
        a, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r1"), api.LabelView
    )
    assert relabel.crowns[0].response_id == "p0r1"
    resubmitted = await service.call(a, "submit_label", api.TaskRef(task_id=task.id), api.LabelView)
    assert resubmitted.status == "SUBMITTED"
    # Where a rework goes is review's to say (another label of the task may still be rejected).
    assert await status() == "IN_REWORK"
    with pytest.raises(Invalid):  # submitted: no more changes
        await service.call(a, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r0"))
    by_review = Metadata(actor_id="system", actor_role="SYSTEM", project_id=project.id, task_id=task.id)
    for before, after in (("IN_REWORK", "IN_REVIEW"), ("IN_REVIEW", "DONE")):
        await service.rt.store.append(
            StreamWrite(
                stream_name("workflow", str(uuid.uuid4())),
                [TaskStatusChanged(task_id=task.id, project_id=project.id, from_status=before, to_status=after)],
            ),
            org_id=org.org_id,
            metadata=by_review,
        )
        await service.eventually(status, after)
    await service.eventually(status, "DONE")
    with pytest.raises(Invalid):
        await service.call(a, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r0"))


async def test_review_off_marks_done_in_our_read_model(service: Any) -> None:
    org = service.org()
    a = org.user()
    project, _ = await service.project(
        org, members={a.user_id: "ANNOTATOR"}, rows=1, settings=api.ProjectSettingsPatch(review_required=False)
    )
    task = await claim(service, a, project.id)
    await service.call(a, "submit_label", api.TaskRef(task_id=task.id), api.LabelView)
    proj = await service.call(org.admin, "get_project", api.ProjectRef(project_id=project.id), api.ProjectView)
    assert proj.progress.done == 1


async def test_an_action_after_the_lease_was_taken_away_is_refused(service: Any) -> None:
    """The service decides an annotator's next action on what it learned from their last one;
    a manager's requeue in between (the lease is gone) must still refuse it, and leave no event."""
    org = service.org()
    a = org.user()
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR"}, rows=1)
    task = await claim(service, a, project.id)
    crown = api.CrownResponseRequest(task_id=task.id, response_id="p0r0")
    await service.call(a, "crown_response", crown)
    await service.call(a, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r1"))
    await service.call(org.admin, "requeue_task", api.TaskRef(task_id=task.id))
    before = await service.rt.store.read_stream(stream_name("label", task.my_label.id))
    with pytest.raises(Forbidden):
        await service.call(a, "crown_response", crown)
    assert len(await service.rt.store.read_stream(stream_name("label", task.my_label.id))) == len(before)


async def test_a_claim_sees_a_project_change_made_elsewhere(service: Any) -> None:
    """A claim decides on the project state this process cached and guards the project
    stream; a change another instance wrote meanwhile (here: straight to the log) is seen.
    Once the project is archived nobody may claim, and no event is written."""
    from preflog_contracts.events.projects import ProjectArchived

    org = service.org()
    a = org.user()
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR"}, rows=2)
    first = await claim(service, a, project.id)
    await service.call(a, "submit_label", api.TaskRef(task_id=first.id), api.LabelView)
    await service.rt.store.append(
        StreamWrite(
            stream_name("project", project.id),
            [ProjectArchived(project_id=project.id)],
        ),
        org_id=org.org_id,
        metadata=Metadata(actor_id=org.admin.user_id, actor_role="ADMIN"),
    )
    before = await service.rt.pool.fetchval("select max(global_position) from eventlog.events")
    with pytest.raises(Invalid) as refused:
        await claim(service, a, project.id)
    assert refused.value.fields == {"project_id": "archived"}
    assert await service.rt.pool.fetchval("select max(global_position) from eventlog.events") == before


async def test_the_first_action_after_a_claim_decides_like_a_fresh_read(service: Any) -> None:
    """A claim leaves what it wrote for the caller's first action (no read before it); the
    label that action answers with is the one a fresh process folds from the log."""
    org = service.org()
    a = org.user()
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR"}, rows=1)
    task = await claim(service, a, project.id)
    after = await service.call(
        a, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r1"), api.LabelView
    )
    fresh = Deps(store=service.rt.store, pool=service.rt.pool, settings=service.rt.settings)
    folded = await fresh.label(task.my_label.id, org.org_id)
    assert after.version == 1
    assert [(c.prompt_id, c.response_id) for c in after.crowns] == [("p0", "p0r1")]
    # The reply carries the service's clock, the fold the log's: they differ by a moment.
    assert msgspec.structs.replace(label_view(folded), updated_at=after.updated_at) == after


async def test_a_submission_records_when_its_lease_began(service: Any) -> None:
    """LabelSubmitted carries the lease's start (time-to-label in review and export), whether
    the instance that granted the lease takes the submission or another one."""
    from preflog_contracts.events import decode_event_data
    from preflog_labeling.handlers.actions import submit_label

    org = service.org()
    a = org.user()
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR"}, rows=2)
    for fresh in (False, True):
        task = await claim(service, a, project.id)
        await service.call(a, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r0"))
        if fresh:  # another instance of the service, which has cached nothing
            other = Deps(store=service.rt.store, pool=service.rt.pool, settings=service.rt.settings)
            await submit_label(other, CallContext(identity=a), api.TaskRef(task_id=task.id))
        else:
            await service.call(a, "submit_label", api.TaskRef(task_id=task.id), api.LabelView)
        [submitted] = [
            decode_event_data(r.event_type, r.schema_version, r.data)
            for r in await service.rt.store.read_stream(stream_name("label", task.my_label.id))
            if r.event_type == "LabelSubmitted"
        ]
        leased_at = await service.rt.pool.fetchval(
            "select leased_at from labeling.assignments where task_id = $1 and user_id = $2", task.id, a.user_id
        )
        assert submitted.leased_at == leased_at, fresh


async def test_concurrent_first_claims_by_one_annotator_lease_one_task(service: Any) -> None:
    """An annotator clicking "next" in two tabs at once gets one task in both, not a lease on
    each (the second would hold a consensus slot nobody works on until it expires)."""
    org = service.org()
    ann = org.user()
    project, _ = await service.project(org, members={ann.user_id: "ANNOTATOR"}, rows=5)
    got = await asyncio.gather(*(claim(service, ann, project.id) for _ in range(8)))
    assert len({t.id for t in got if t is not None}) == 1
    leases = await service.rt.pool.fetchval(
        "select count(*) from labeling.assignments where project_id = $1 and user_id = $2 and lease_expires_at > now()",
        project.id,
        ann.user_id,
    )
    assert leases == 1


@pytest.mark.parametrize("conforming", ["on", "off"])
async def test_the_claim_locks_key_is_the_ids_text_whatever_it_holds(pool: Any, conforming: str) -> None:
    """The one-claim-at-a-time lock is taken in the same simple query as ``begin``, with its
    key's text written as a literal: any text gives the key its parameter form gives."""
    texts = ["p/u", "it's/o'brien", "back\\slash/\\'", "\u00e9\u4e2d/\U0001f600", "'; select 1; --/x", "E'x'/\\n"]
    async with pool.acquire() as conn:
        await conn.execute(f"set standard_conforming_strings = {conforming}")
        try:
            for text in texts:
                inline = await conn.fetchval(f"select hashtext({_literal(text)})")
                assert inline == await conn.fetchval("select hashtext($1)", text), text
        finally:
            await conn.execute("reset standard_conforming_strings")
    with pytest.raises(Invalid):
        _literal("a\x00b")


async def test_a_failed_claim_rolls_back_and_lets_go_of_its_lock(pool: Any) -> None:
    project_id, user_id = str(uuid.uuid4()), str(uuid.uuid4())

    async def holders() -> int:
        return await pool.fetchval(
            "select count(*) from pg_locks where locktype = 'advisory' and granted and classid = 7401"
            " and objid = ((hashtext($1)::bigint + 4294967296) % 4294967296)::oid",
            f"{project_id}/{user_id}",
        )

    async with pool.acquire() as conn:
        with pytest.raises(RuntimeError):
            async with _one_claim_at_a_time(conn, project_id, user_id):
                assert conn.is_in_transaction()
                await conn.execute("create temporary table claim_rolled_back (x int)")
                assert await holders() == 1
                raise RuntimeError("the claim failed")
        assert not conn.is_in_transaction()
        assert await holders() == 0
        assert await conn.fetchval("select to_regclass('pg_temp.claim_rolled_back')") is None
        async with _one_claim_at_a_time(conn, project_id, user_id):
            await conn.execute("create temporary table claim_committed (x int)")
        assert not conn.is_in_transaction()
        assert await conn.fetchval("select to_regclass('pg_temp.claim_committed')") is not None
        await conn.execute("drop table pg_temp.claim_committed")

    # A claim cancelled mid-statement (its caller gone) leaves neither its lock nor a
    # transaction on the pooled connection.
    async def stalled() -> None:
        async with pool.acquire() as conn, _one_claim_at_a_time(conn, project_id, user_id):
            await conn.execute("select pg_sleep(10)")

    running = asyncio.create_task(stalled())
    await asyncio.sleep(0.3)
    assert await holders() == 1
    running.cancel()
    with pytest.raises(asyncio.CancelledError):
        await running
    for _ in range(100):
        if await holders() == 0:
            break
        await asyncio.sleep(0.05)
    assert await holders() == 0
    assert await pool.fetchval("select 1") == 1


async def test_progress_is_kept_without_counting_the_tasks(service: Any) -> None:
    """Progress comes from counts the tasks table's trigger keeps (deltas, folded by a loop),
    and always equals a count of the tasks, before a fold, after one, and after two at once."""
    from preflog_labeling.handlers.queue import fold_progress_once

    org = service.org()
    a, b = org.user(), org.user()
    members = {a.user_id: "ANNOTATOR", b.user_id: "ANNOTATOR"}
    project, _ = await service.project(
        org, members=members, rows=5, settings=api.ProjectSettingsPatch(review_required=False)
    )
    pool = service.rt.pool

    async def counted() -> dict[str, int]:
        rows = await pool.fetch(
            "select status, count(*) from labeling.tasks where project_id = $1 group by status",
            project.id,
        )
        return {r[0]: r[1] for r in rows}

    async def shown() -> dict[str, int]:
        view = await service.call(org.admin, "get_project", api.ProjectRef(project_id=project.id), api.ProjectView)
        p = view.progress
        out = {
            "TO_LABEL": p.to_label,
            "IN_REVIEW": p.in_review,
            "IN_REWORK": p.in_rework,
            "DONE": p.done,
            "SKIPPED": p.skipped,
        }
        return {k: v for k, v in out.items() if v}

    assert await shown() == await counted() == {"TO_LABEL": 5}
    for who in (a, b):
        task = await claim(service, who, project.id)
        assert task is not None
        await service.call(who, "submit_label", api.TaskRef(task_id=task.id), api.LabelView)
    skipped = await claim(service, a, project.id)
    assert skipped is not None
    await service.call(a, "skip_task", api.SkipTaskRequest(task_id=skipped.id, reason="unclear"), api.TaskView)
    await service.eventually(shown, {"TO_LABEL": 2, "DONE": 2, "SKIPPED": 1})
    assert await shown() == await counted()
    # two folds at once (and the service's own loop) count nothing twice
    await asyncio.gather(fold_progress_once(pool), fold_progress_once(pool))
    assert await shown() == await counted()
    assert not await pool.fetchval("select count(*) from labeling.progress_deltas where project_id = $1", project.id)


async def test_every_change_of_a_tasks_status_writes_its_delta(service: Any) -> None:
    """Inside one transaction (no fold can see it yet): the trigger's deltas for an insert,
    a status change, an update that changes no status, and a delete."""
    project_id, org_id = f"p-{uuid.uuid4()}", str(uuid.uuid4())

    async def deltas(conn: Any) -> dict[str, int]:
        rows = await conn.fetch(
            "select status, sum(n) from labeling.progress_deltas where project_id = $1"
            " group by status having sum(n) <> 0",
            project_id,
        )
        return {r[0]: r[1] for r in rows}

    async with service.rt.pool.acquire() as conn:
        tx = conn.transaction()
        await tx.start()
        try:
            await conn.execute(
                "insert into labeling.tasks (task_id, org_id, project_id, data_row_id, batch_id)"
                " select $1 || g, $2, $1, 'row' || g, 'b' from generate_series(1, 3) g",
                project_id,
                org_id,
            )
            assert await deltas(conn) == {"TO_LABEL": 3}
            await conn.execute("update labeling.tasks set status = 'DONE' where task_id = $1 || '1'", project_id)
            await conn.execute("update labeling.tasks set priority = 5 where project_id = $1", project_id)
            assert await deltas(conn) == {"TO_LABEL": 2, "DONE": 1}
            await conn.execute("delete from labeling.tasks where task_id = $1 || '2'", project_id)
            assert await deltas(conn) == {"TO_LABEL": 1, "DONE": 1}
        finally:
            await tx.rollback()


# What a claim must hand out, read without the frontier: the first open task in queue order
# with room for a label that the caller has not labelled or skipped.
_EXPECTED_CLAIM = (
    "select t.task_id from labeling.tasks t where t.project_id = $1 and t.status = 'TO_LABEL'"
    " and t.submitted_labels + t.open_leases < t.required_labels"
    " and not coalesce((select a.label_status <> 'DRAFT' or a.skipped from labeling.assignments a"
    " where a.task_id = t.task_id and a.user_id = $2), false)"
    " order by t.priority desc, t.seq limit 1"
)


async def test_claims_from_the_frontier_hand_out_what_a_walk_from_the_start_would(service: Any) -> None:
    """Every claim's task is the one a walk of the whole queue finds, while annotators run
    ahead of each other and tasks enter the queue before their frontiers: skipped tasks
    requeued, new batches of higher, equal and lower priority, releases."""
    org = service.org()
    annotators = [org.user() for _ in range(3)]
    project = await service.consensus_project(
        org, annotators, labels_per_row=2, rows=12, settings=api.ProjectSettingsPatch(review_required=False)
    )
    pool = service.rt.pool
    rnd = random.Random(7)
    held: dict[str, str] = {}  # user -> task they lease
    skipped: list[str] = []
    claims = batches = requeues = 0
    # The fast annotator works five times as often as the others.
    weights = [5, 1, 1]
    for _ in range(150):
        who = rnd.choices(annotators, weights)[0]
        op = rnd.random()
        if who.user_id in held and op < 0.6:
            task_id = held.pop(who.user_id)
            await service.call(who, "submit_label", api.TaskRef(task_id=task_id), api.LabelView)
        elif who.user_id in held and op < 0.7:
            task_id = held.pop(who.user_id)
            await service.call(who, "skip_task", api.SkipTaskRequest(task_id=task_id, reason="r"), api.TaskView)
            skipped.append(task_id)
        elif who.user_id in held and op < 0.8:
            await service.call(who, "release_task", api.TaskRef(task_id=held.pop(who.user_id)), api.TaskView)
        elif op < 0.06 and skipped:
            task_id = skipped.pop(rnd.randrange(len(skipped)))
            await service.call(org.admin, "requeue_task", api.TaskRef(task_id=task_id), api.TaskView)
            requeues += 1
        elif op < 0.1:
            dataset_id, _ = await service.import_rows(org, rnd.randint(1, 3))
            await service.call(
                org.admin,
                "add_data_rows_to_project",
                api.AddDataRowsRequest(project_id=project.id, dataset_id=dataset_id, priority=rnd.choice([-1, 0, 2])),
                api.BatchView,
            )
            batches += 1
        else:
            expected = held.get(who.user_id) or await pool.fetchval(_EXPECTED_CLAIM, project.id, who.user_id)
            got = await claim(service, who, project.id)
            assert (got.id if got else None) == expected
            if got is not None:
                held[who.user_id] = got.id
            claims += 1
    assert claims > 50 and batches > 3 and requeues > 0
    # The fast annotator's frontier is past tasks they labelled that others have not finished.
    fast = annotators[0].user_id
    ahead = await pool.fetchval(
        "select count(*) from labeling.tasks t join labeling.claim_frontiers f"
        " on f.project_id = t.project_id and f.user_id = $2"
        " where t.project_id = $1 and t.status = 'TO_LABEL'"
        " and (-(t.priority::bigint), t.seq) < (f.priority_key, f.seq)",
        project.id,
        fast,
    )
    assert ahead > 0


async def test_annotators_draining_a_consensus_queue_at_once_label_every_task_n_times(service: Any) -> None:
    """Five annotators claim and submit at once until nothing is left for any of them: every
    task ends with exactly its three labels, each by a different annotator, and no frontier
    passed a task someone still needed."""
    org = service.org()
    annotators = [org.user() for _ in range(5)]
    project = await service.consensus_project(
        org, annotators, labels_per_row=3, rows=12, settings=api.ProjectSettingsPatch(review_required=False)
    )
    done: dict[str, list[str]] = {}

    async def work(who: Any) -> None:
        while (task := await claim(service, who, project.id)) is not None:
            await service.call(who, "submit_label", api.TaskRef(task_id=task.id), api.LabelView)
            done.setdefault(task.id, []).append(who.user_id)

    await asyncio.gather(*(work(u) for u in annotators))
    assert len(done) == 12
    assert all(len(authors) == 3 == len(set(authors)) for authors in done.values()), done
    rows = await service.rt.pool.fetch(
        "select submitted_labels, open_leases, status from labeling.tasks where project_id = $1", project.id
    )
    assert {tuple(r) for r in rows} == {(3, 0, "DONE")}


async def test_an_expiry_waits_for_a_claim_holding_the_tasks_row(service: Any) -> None:
    """A claim locks the task's row, then appends to the task's stream. An expiry that
    appended first and then waited for the row deadlocked with it; it now locks the row
    first, so the claim's append goes through and the expiry follows."""
    org = service.org()
    a = org.user()
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR"}, rows=1)
    task = await claim(service, a, project.id)
    pool = service.rt.pool
    deps = Deps(store=service.rt.store, pool=pool, settings=service.rt.settings)
    async with pool.acquire() as claimer:
        await claimer.execute("begin")
        await claimer.execute("select 1 from labeling.tasks where task_id = $1 for update", task.id)
        await pool.execute(
            "update labeling.assignments set lease_expires_at = now() - interval '1 minute' where task_id = $1",
            task.id,
        )
        expiry = asyncio.create_task(expire_leases_once(deps))

        async def waiting() -> bool:
            return bool(await pool.fetchval("select count(*) from pg_locks where not granted"))

        await service.eventually(waiting, True)  # the expiry (or the service's own) waits for the row
        await service.rt.store.append(
            StreamWrite(stream_name("task", task.id), [TaskRequeued(task_id=task.id, project_id=project.id)], ANY),
            org_id=org.org_id,
            metadata=Metadata(actor_id=org.admin.user_id, actor_role="ADMIN"),
            conn=claimer,
        )
        await claimer.execute("commit")
    await expiry
    recs = await service.rt.store.read_stream(stream_name("task", task.id))
    types = [r.event_type for r in recs]
    assert types[-2:] == ["TaskRequeued", "TaskReleased"], types


async def test_the_queue_counts_stay_true_under_concurrent_claims_releases_skips_and_expiry(service: Any) -> None:
    """Four annotators at once claim, submit, release and skip, some with leases that end at
    once and are swept by the expiry while they still act; a manager requeues skipped tasks.
    Whatever interleaves, the only refusals are the ones a user can get (FORBIDDEN,
    INVALID_INPUT, CONFLICT), and afterwards every task's counters match its assignments."""
    org = service.org()
    annotators = [org.user() for _ in range(4)]
    project = await service.consensus_project(
        org, annotators, labels_per_row=2, rows=10, settings=api.ProjectSettingsPatch(review_required=False)
    )
    pool = service.rt.pool
    brief = Deps(
        store=service.rt.store, pool=pool, settings=msgspec.structs.replace(service.rt.settings, lease_seconds=0)
    )
    unexpected: list[BaseException] = []
    skipped: list[str] = []

    async def annotate(k: int, who: Any) -> None:
        rnd = random.Random(k)
        ctx = CallContext(identity=who)
        for _ in range(25):
            try:
                if k == 0 and rnd.random() < 0.5:  # a lease that ends at once
                    task = await claim_next_task(brief, ctx, api.ProjectRef(project_id=project.id))
                else:
                    task = await claim(service, who, project.id)
                if task is None:
                    return
                pick = rnd.random()
                ref = api.TaskRef(task_id=task.id)
                if pick < 0.6:
                    await service.call(who, "submit_label", ref, api.LabelView)
                elif pick < 0.8:
                    await service.call(who, "release_task", ref, api.TaskView)
                else:
                    await service.call(who, "skip_task", api.SkipTaskRequest(task_id=task.id, reason="r"), api.TaskView)
                    skipped.append(task.id)
            except (Forbidden, Invalid, Conflict):
                continue
            except Exception as exc:  # anything else is a failure of the service
                unexpected.append(exc)
                return

    async def sweep_and_requeue() -> None:
        for _ in range(30):
            await expire_leases_once(brief)
            if skipped:
                try:
                    await service.call(org.admin, "requeue_task", api.TaskRef(task_id=skipped.pop()), api.TaskView)
                except (Invalid, Conflict):
                    pass
            await asyncio.sleep(0.02)

    await asyncio.gather(*(annotate(k, u) for k, u in enumerate(annotators)), sweep_and_requeue())
    assert unexpected == []
    while await expire_leases_once(brief):
        pass
    for r in await service.queue_counts(project.id):
        assert r["submitted_labels"] == r["submitted"], dict(r)
        if r["status"] == "TO_LABEL":
            assert r["open_leases"] == r["leases"], dict(r)
        if r["status"] == "DONE":
            assert r["submitted_labels"] >= r["required_labels"], dict(r)


async def test_a_claim_does_not_lease_again_a_task_whose_ended_lease_is_still_counted(service: Any) -> None:
    """An annotator whose lease ended claims again before the expiry has swept it: they are
    not handed that task again, which would count their one lease twice and leave the task
    full, for everyone, after the sweep."""
    org = service.org()
    a, b = org.user(), org.user()
    project = await service.consensus_project(org, [a, b], labels_per_row=2)
    brief = Deps(
        store=service.rt.store,
        pool=service.rt.pool,
        settings=msgspec.structs.replace(service.rt.settings, lease_seconds=0),
    )
    ref = api.ProjectRef(project_id=project.id)
    first = await claim_next_task(brief, CallContext(identity=a), ref)
    assert first is not None
    assert await claim_next_task(brief, CallContext(identity=a), ref) is None  # the only task: theirs, unswept
    await expire_leases_once(brief)
    counted = await service.rt.pool.fetchval("select open_leases from labeling.tasks where task_id = $1", first.id)
    assert counted == 0
    # Both still get it: it needs two labels.
    assert (await claim(service, a, project.id)).id == first.id
    assert (await claim(service, b, project.id)).id == first.id


async def test_a_late_reaction_to_a_skip_does_not_undo_the_requeue_after_it(service: Any) -> None:
    """Review reacts to a skip and to a requeue with status changes of its own. Arriving
    late (review behind), the skip's reaction came after the requeue: the task showed
    skipped again, claims found nothing and whoever had claimed it was refused, until the
    requeue's reaction came. A reaction to an own event labeling has moved past is ignored,
    in the read model and in ``taskAsOf`` alike."""
    org = service.org()
    a, b = org.user(), org.user()
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR", b.user_id: "ANNOTATOR"}, rows=1)
    task = await claim(service, a, project.id)
    await service.call(a, "skip_task", api.SkipTaskRequest(task_id=task.id, reason="unclear"))
    await service.call(org.admin, "requeue_task", api.TaskRef(task_id=task.id))
    claimed = await claim(service, b, project.id)
    assert claimed is not None and claimed.id == task.id
    causes = {r.event_type: r.event_id for r in await service.rt.store.read_stream(stream_name("task", task.id))}

    async def react(cause: str, before: str, after: str) -> datetime:
        by_review = Metadata(
            actor_id="system", actor_role="SYSTEM", causation_id=cause, project_id=project.id, task_id=task.id
        )
        await service.rt.store.append(
            StreamWrite(
                stream_name("workflow", task.id),
                [TaskStatusChanged(task_id=task.id, project_id=project.id, from_status=before, to_status=after)],
            ),
            org_id=org.org_id,
            metadata=by_review,
        )
        await service.settle()
        return datetime.now(UTC)

    async def status() -> str:
        return str(await service.rt.pool.fetchval("select status from labeling.tasks where task_id = $1", task.id))

    between = await react(causes["TaskSkipped"], "TO_LABEL", "SKIPPED")
    assert await status() == "TO_LABEL"
    label = await service.call(
        b, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r0"), api.LabelView
    )
    assert label.crowns  # b works on, not refused as "skipped"
    await react(causes["TaskRequeued"], "SKIPPED", "TO_LABEL")
    assert await status() == "TO_LABEL"
    for at in (between, datetime.now(UTC)):
        past = await service.call(org.admin, "task_as_of", api.TaskAsOfRequest(task_id=task.id, at=at), api.TaskView)
        assert past.status == "TO_LABEL"
    # A reaction to the latest own event is applied: b skips, and review's reaction to that
    # skip is what the task shows.
    await service.call(b, "skip_task", api.SkipTaskRequest(task_id=task.id, reason="unclear"))
    last_skip = [
        r for r in await service.rt.store.read_stream(stream_name("task", task.id)) if r.event_type == "TaskSkipped"
    ]
    await service.rt.pool.execute("update labeling.tasks set status = 'TO_LABEL' where task_id = $1", task.id)
    await react(last_skip[-1].event_id, "TO_LABEL", "SKIPPED")
    assert await status() == "SKIPPED"
