"""Review's reads of the log keep a good plan as the log grows.

A connection keeps a prepared statement's generic plan for as long as it lives, and with
autovacuum off nothing re-plans it (ADR 0012).
"""

from __future__ import annotations

import json
import uuid

import asyncpg

from preflog_review.handlers.review_actions import INTAKE_CAUGHT_UP_SQL


async def test_a_tasks_submissions_are_found_by_the_task_not_the_orgs_trail(
    fresh_database_url: str,
) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    org = str(uuid.uuid4())
    try:
        await conn.execute("set plan_cache_mode = force_generic_plan")
        await conn.execute(f"prepare latest as {INTAKE_CAUGHT_UP_SQL}")
        await conn.execute(f"execute latest('label-x', '{org}')")  # planned on an empty log
        # 20,000 submissions: 1,000 tasks of 20 labels each.
        await conn.execute(
            "insert into eventlog.events (stream_name, stream_position, event_type,"
            " schema_version, org_id, data, metadata, event_id) select 'label-' || i, 0,"
            " 'LabelSubmitted', 1, $1::uuid, '{}'::jsonb, jsonb_build_object('task_id',"
            " 't' || i % 1000, 'label_id', i::text), gen_random_uuid()"
            " from generate_series(1, 20000) i",
            org,
        )
        explained = await conn.fetchval(f"explain (format json) execute latest('label-5', '{org}')")
        plan = json.dumps(json.loads(explained)[0]["Plan"])
        assert '"Index Name": "events_stream_name_stream_position_key"' in plan, plan
        assert '"Index Name": "events_task"' in plan, plan
        assert "events_org_order" not in plan and "Seq Scan" not in plan, plan

        async def take(labels: range) -> None:  # as review's intake does
            await conn.execute(
                "insert into review.labels (label_id, org_id, project_id, task_id,"
                " submitted_position) select e.label_id, e.org_id, 'p', e.task_id,"
                " e.global_position from eventlog.events e where e.label_id = any($1::text[])",
                [str(i) for i in labels],
            )

        # Submitted, and review has not taken it yet; then the label, not the rest of its task.
        assert await conn.fetchval(INTAKE_CAUGHT_UP_SQL, "label-5", org) is False
        await take(range(5, 6))
        assert await conn.fetchval(INTAKE_CAUGHT_UP_SQL, "label-5", org) is False
        await take(range(1005, 20000, 1000))
        assert await conn.fetchval(INTAKE_CAUGHT_UP_SQL, "label-5", org) is True
        assert await conn.fetchval(INTAKE_CAUGHT_UP_SQL, "label-none", org) is True
        assert await conn.fetchval(INTAKE_CAUGHT_UP_SQL, "label-6", str(uuid.uuid4())) is True
    finally:
        await conn.close()
