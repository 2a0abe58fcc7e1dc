"""The claim statement keeps a good plan as the queue grows.

A connection keeps a prepared statement's generic plan for as long as it lives, and with
autovacuum off nothing re-plans it (ADR 0012). The claim is planned on a project's first
claims, when the queue tables are nearly empty, and runs for every claim after.
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from preflog_labeling.handlers import queue


def _scans(plan: dict[str, Any]) -> set[tuple[str, str]]:
    found = {(plan["Node Type"], plan.get("Relation Name", ""))}
    for child in plan.get("Plans", []):
        found |= _scans(child)
    return found


async def test_the_claim_planned_on_an_empty_queue_stays_index_lookups(fresh_database_url: str) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute("set plan_cache_mode = force_generic_plan")
        await conn.execute(f"prepare claim as {queue.NEXT_TASK_SQL}")
        await conn.execute(f"prepare held as {queue.HELD_SQL}")
        await conn.execute("begin")
        await conn.execute("execute claim('p', 'u')")  # planned on empty tables
        await conn.execute("execute held('p', 'u', now())")
        await conn.execute("rollback")
        org = "00000000-0000-0000-0000-000000000001"
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
        explained = await conn.fetchval("explain (format json) execute claim('p1', 'u1')")
        scans = _scans(json.loads(explained)[0]["Plan"])
        whole = {s for s in scans if s[0] in ("Seq Scan", "Bitmap Heap Scan")}
        assert not whole, scans
        # The user's 400 finished assignments in the project are not read to find a lease.
        explained = await conn.fetchval("explain (format json) execute held('p1', 'u1', now())")
        plan = json.loads(explained)[0]["Plan"]
        assert '"Index Name": "assignments_held"' in json.dumps(plan), plan
    finally:
        await conn.close()
