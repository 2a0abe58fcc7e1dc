"""Review's reads of the log keep a good plan as the log grows.

A connection keeps a prepared statement's generic plan for as long as it lives, and with
autovacuum off nothing re-plans it (ADR 0012).
"""

from __future__ import annotations

import json
import uuid

import asyncpg

from preflog_review.handlers.review_actions import INTAKE_CAUGHT_UP_SQL


async def test_a_labels_latest_submission_is_found_by_its_stream_not_its_orgs_trail(
    fresh_database_url: str,
) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    org = str(uuid.uuid4())
    try:
        await conn.execute("set plan_cache_mode = force_generic_plan")
        await conn.execute(f"prepare latest as {INTAKE_CAUGHT_UP_SQL}")
        await conn.execute(f"execute latest('label-x', '{org}', 'x')")  # planned on an empty log
        await conn.execute(
            "insert into eventlog.events (stream_name, stream_position, event_type,"
            " schema_version, org_id, data, metadata, event_id) select 'label-' || i, 0,"
            " 'LabelSubmitted', 1, $1::uuid, '{}'::jsonb, '{}'::jsonb, gen_random_uuid()"
            " from generate_series(1, 20000) i",
            org,
        )
        explained = await conn.fetchval(
            f"explain (format json) execute latest('label-5', '{org}', '5')"
        )
        plan = json.dumps(json.loads(explained)[0]["Plan"])
        assert '"Index Name": "events_stream_name_stream_position_key"' in plan, plan
        assert "events_org_order" not in plan and "Seq Scan" not in plan, plan
        # Submitted, and review has not taken it yet.
        assert await conn.fetchval(INTAKE_CAUGHT_UP_SQL, "label-5", org, "5") is False
        assert await conn.fetchval(INTAKE_CAUGHT_UP_SQL, "label-none", org, "none") is True
    finally:
        await conn.close()
