"""The claim statement keeps a good plan as the queue grows.

A connection keeps a prepared statement's generic plan for as long as it lives, and with
autovacuum off nothing re-plans it (ADR 0012). The claim is planned on a project's first
claims, when the queue tables are nearly empty, and runs for every claim after.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from preflog_labeling.handlers import queue, reads

ORG = "00000000-0000-0000-0000-000000000001"


def claim_args(project: str, user: str) -> str:
    return f"'{project}', '{user}', now(), 'new-label', '{ORG}', now() + interval '1 hour'"


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
        for i, (sql, _) in enumerate(shapes):
            await conn.execute(f"prepare page{i} as {sql}")
            await conn.execute(f"execute page{i}({_literals(shapes[i][1])})")  # planned on empty tables
        await conn.execute(
            "insert into labeling.tasks (task_id, org_id, project_id, data_row_id, batch_id, priority,"
            " status) select 't' || i, $1::uuid, 'p' || (i % 4), 'd' || i, 'b', 0,"
            " (array['TO_LABEL', 'IN_REVIEW', 'DONE'])[1 + i % 3] from generate_series(1, 40000) i",
            ORG,
        )
        await conn.execute("analyze labeling.tasks")
        for i, (_, args) in enumerate(shapes):
            explained = await conn.fetchval(f"explain (format json) execute page{i}({_literals(args)})")
            plan = json.loads(explained)[0]["Plan"]
            scans = _scans(plan)
            assert not {s for s in scans if s[0] in ("Seq Scan", "Bitmap Heap Scan", "Sort")}, (i, scans)
            index = "tasks_by_status" if args[2:3] == ["IN_REVIEW"] else "tasks_project_seq"
            assert f'"Index Name": "{index}"' in json.dumps(plan), (i, plan)
    finally:
        await conn.close()


def _literals(args: list[object]) -> str:
    return ", ".join(str(a) if isinstance(a, int) else f"'{a}'" for a in args)
