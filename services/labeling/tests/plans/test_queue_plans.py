"""The claim statement keeps a good plan as the queue grows.

A connection keeps a prepared statement's generic plan for as long as it lives, and with
autovacuum off nothing re-plans it (ADR 0012). The claim is planned on a project's first
claims, when the queue tables are nearly empty, and runs for every claim after.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from preflog_contracts.identity import Identity
from preflog_labeling.handlers import projects, queue, reads

ORG = "00000000-0000-0000-0000-000000000001"


def claim_args(project: str, user: str, label: str = "new-label", lease: str = "1 hour") -> str:
    return f"'{project}', '{user}', now(), '{label}', '{ORG}', now() + interval '{lease}'"


def _scans(plan: dict[str, Any]) -> set[tuple[str, str]]:
    found = {(plan["Node Type"], plan.get("Relation Name", ""))}
    for child in plan.get("Plans", []):
        found |= _scans(child)
    return found


async def test_the_claim_planned_on_an_empty_queue_stays_index_lookups(fresh_database_url: str) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute("set plan_cache_mode = force_generic_plan")
        await conn.execute(f"prepare claim as {queue.CLAIM_SQL}")
        await conn.execute("begin")
        await conn.execute(f"execute claim({claim_args('p', 'u')})")  # planned on empty tables
        await conn.execute("rollback")
        org = ORG
        await conn.execute(
            "insert into labeling.tasks (task_id, org_id, project_id, data_row_id, batch_id, priority,"
            " required_labels) select 't' || i, $1::uuid, 'p' || (i % 20), 'd' || i, 'b', 0, 1"
            " from generate_series(1, 20000) i",
            org,
        )
        await conn.execute(
            "insert into labeling.assignments (task_id, user_id, label_id, org_id, project_id, label_status)"
            " select 't' || i, 'u' || (i % 50), 'l' || i, $1::uuid, 'p' || (i % 20), 'SUBMITTED'"
            " from generate_series(1, 20000) i",
            org,
        )
        explained = await conn.fetchval(f"explain (format json) execute claim({claim_args('p1', 'u1')})")
        scans = _scans(json.loads(explained)[0]["Plan"])
        whole = {s for s in scans if s[0] in ("Seq Scan", "Bitmap Heap Scan")}
        assert not whole, scans
        # The user's 400 finished assignments in the project are not read to find a lease,
        # and the row comes by its key, not from a scan of the org's rows.
        plan = json.dumps(json.loads(explained)[0]["Plan"])
        assert '"Index Name": "assignments_held"' in plan, plan
        assert '"Index Name": "data_rows_pkey"' in plan, plan
    finally:
        await conn.close()


async def test_a_claim_starts_at_the_callers_frontier(fresh_database_url: str) -> None:
    """An annotator 10,000 tasks ahead of the others in a consensus project: the first claim
    walks past their labelled tasks once, every later claim starts where it stopped, with a
    plan made on an empty queue."""
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute("set plan_cache_mode = force_generic_plan")
        await conn.execute(f"prepare claim as {queue.CLAIM_SQL}")
        await conn.execute(f"execute claim({claim_args('p', 'u')})")  # planned on empty tables
        await conn.execute(
            "insert into labeling.tasks (task_id, org_id, project_id, data_row_id, batch_id, priority,"
            " required_labels) select 't' || i, $1::uuid, 'p1', 'd' || i, 'b', 0, 3"
            " from generate_series(1, 20000) i",
            ORG,
        )
        await conn.execute(
            "insert into labeling.assignments (task_id, user_id, label_id, org_id, project_id, label_status)"
            " select 't' || i, 'u1', 'l' || i, $1::uuid, 'p1', 'SUBMITTED' from generate_series(1, 10000) i",
            ORG,
        )
        walks = []
        for i in range(3):
            # A lease that ends at once, so that the next claim leases anew instead of finding it.
            ended = claim_args("p1", "u1", label=f"new-label-{i}", lease="-1 hour")
            explained = await conn.fetchval(f"explain (analyze, format json) execute claim({ended})")
            plan = json.loads(explained)[0]["Plan"]
            walks.append(max(_rows_read(plan)))
        assert walks[0] >= 10_000, walks
        assert max(walks[1:]) <= 3, walks
        # Each claim leased the next task u1 has not labelled: an ended lease not yet swept is
        # still counted, so its task is not leased to them again.
        leased = await conn.fetch("select task_id, open_leases from labeling.tasks where open_leases > 0 order by seq")
        assert [tuple(r) for r in leased] == [("t10001", 1), ("t10002", 1), ("t10003", 1)]
    finally:
        await conn.close()


async def test_a_page_of_a_projects_tasks_reads_its_index_in_order(fresh_database_url: str) -> None:
    """Project.tasks: every shape of the list (with a status or not, all tasks or an
    annotator's) is read in queue order from an index, not sorted from the whole project,
    even with a plan made on an empty table."""
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute("set plan_cache_mode = force_generic_plan")
        shapes = [
            reads.list_tasks_sql("p1", 0, status, author, 51)
            for status in (None, "IN_REVIEW")
            for author in (None, "u1")
        ]
        await _prepare_on_empty_tables(conn, "page", shapes)
        await conn.execute(
            "insert into labeling.tasks (task_id, org_id, project_id, data_row_id, batch_id, priority,"
            " status) select 't' || i, $1::uuid, 'p' || (i % 4), 'd' || i, 'b', 0,"
            " (array['TO_LABEL', 'IN_REVIEW', 'DONE'])[1 + i % 3] from generate_series(1, 40000) i",
            ORG,
        )
        # u1 has a label on 30 of p1's 10,000 tasks, u2 on 5,000 of p2's.
        await conn.execute(
            "insert into labeling.assignments (task_id, user_id, label_id, org_id, project_id, seq)"
            " select 't' || i, case when i % 4 = 1 then 'u1' else 'u2' end, 'l' || i, $1::uuid,"
            " 'p' || (i % 4), (select seq from labeling.tasks where task_id = 't' || i)"
            " from generate_series(1, 40000) i where (i % 4 = 1 and i < 120) or i % 8 = 2",
            ORG,
        )
        await conn.execute("analyze labeling.tasks")
        await conn.execute("analyze labeling.assignments")
        for i, (_, args) in enumerate(shapes):
            plan = await _executed_plan(conn, f"page{i}", args)
            scans = _scans(plan)
            text = json.dumps(plan)
            if len(args) == 5 or args[2:3] == ["u1"]:  # an author's page: from their assignments
                assert not {s for s in scans if s[0] == "Seq Scan"}, (i, scans)
                assert '"Index Name": "assignments_author"' in text, (i, plan)
                assert max(_rows_read(plan)) <= 30, (i, plan)
                continue
            assert not {s for s in scans if s[0] in ("Seq Scan", "Bitmap Heap Scan", "Sort")}, (i, scans)
            index = "tasks_by_status" if args[2:3] == ["IN_REVIEW"] else "tasks_project_seq"
            assert f'"Index Name": "{index}"' in text, (i, plan)
        # Their pages hold exactly their tasks, in queue order.
        sql, args = reads.list_tasks_sql("p1", 0, None, "u1", 51)
        rows = await conn.fetch(sql, *args)
        assert [r["task_id"] for r in rows] == [f"t{i}" for i in range(1, 120, 4)]
        sql, args = reads.list_tasks_sql("p1", rows[9]["seq"], "IN_REVIEW", "u1", 3)
        in_review = [r["task_id"] for r in await conn.fetch(sql, *args)]
        assert in_review == [t for t in (f"t{i}" for i in range(41, 120, 4)) if int(t[1:]) % 3 == 1][:3]
    finally:
        await conn.close()


def _rows_read(plan: dict[str, Any]) -> list[int]:
    """Rows each scan of the plan produced or dropped, over all its loops."""
    found = []
    if "Scan" in plan["Node Type"]:
        found.append((plan.get("Actual Rows", 0) + plan.get("Rows Removed by Filter", 0)) * plan.get("Actual Loops", 1))
    for child in plan.get("Plans", []):
        found += _rows_read(child)
    return found or [0]


def _literals(args: list[object]) -> str:
    return ", ".join(str(a) if isinstance(a, int) else f"'{a}'" for a in args)


async def _prepare_on_empty_tables(conn: asyncpg.Connection, name: str, shapes: list[tuple[str, list[object]]]) -> None:
    """Prepare each statement shape as ``<name><i>`` and run it once, so that its plan is made
    while the tables are still empty."""
    for i, (sql, args) in enumerate(shapes):
        await conn.execute(f"prepare {name}{i} as {sql}")
        await conn.execute(f"execute {name}{i}({_literals(args)})")


async def _executed_plan(conn: asyncpg.Connection, prepared: str, args: list[object]) -> dict[str, Any]:
    """The plan of running the prepared statement with ``args``, with its actual rows."""
    explained = await conn.fetchval(f"explain (analyze, format json) execute {prepared}({_literals(args)})")
    return dict(json.loads(explained)[0]["Plan"])


async def test_a_page_of_projects_reads_the_callers_projects_in_order(fresh_database_url: str) -> None:
    """list_projects: an org admin's page reads the org's projects in id order, a member's
    their memberships, each from an index and stopping when the page is full, even with a
    plan made on empty tables."""
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute("set plan_cache_mode = force_generic_plan")
        admin = Identity(user_id="boss", org_id=ORG, org_role="ADMIN")
        member = Identity(user_id="u3", org_id=ORG)
        shapes = [projects.list_projects_sql(who, "", 11) for who in (admin, member)]
        await _prepare_on_empty_tables(conn, "projects", shapes)
        # 20,000 projects in 10 orgs; u3 is a member of every 50th of this org's 2,000.
        await conn.execute(
            "insert into labeling.projects (project_id, org_id, name, created_at)"
            " select 'p' || lpad(i::text, 5, '0'), case when i % 10 = 0 then $1::uuid else gen_random_uuid() end,"
            " 'n', now() from generate_series(1, 20000) i",
            ORG,
        )
        await conn.execute(
            "insert into labeling.project_members (project_id, user_id, org_id, role)"
            " select project_id, 'u' || u, org_id, 'ANNOTATOR' from labeling.projects,"
            " generate_series(1, 3) u where org_id <> $1::uuid or u <> 3 or project_id like '%00'",
            ORG,
        )
        await conn.execute("analyze labeling.projects")
        await conn.execute("analyze labeling.project_members")
        for i, (index, (_, args)) in enumerate(
            zip(("projects_org_id", "project_members_user_projects"), shapes, strict=True)
        ):
            plan = await _executed_plan(conn, f"projects{i}", args)
            assert f'"Index Name": "{index}"' in json.dumps(plan), (i, plan)
            assert not {s for s in _scans(plan) if s[0] in ("Seq Scan", "Sort")}, (i, plan)
            assert max(_rows_read(plan)) <= 11, (i, plan)
        sql, args = shapes[1]
        ids = [r[0] for r in await conn.fetch(sql, *args)]
        assert ids == [f"p{i:05d}" for i in range(100, 1200, 100)]
    finally:
        await conn.close()
