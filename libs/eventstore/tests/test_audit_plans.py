"""Audit filters that match little of a large org's trail are found by an index.

A filter by actor or by event type alone once read the org's whole trail in order, dropping
what did not match: the cost of a page grew with the org's history (ADR 0023).
"""

from __future__ import annotations

import json
from typing import Any

import asyncpg

from preflog_contracts.envelope import START, Cursor
from preflog_eventstore.store import _events_sql, audit_sql, read_all_where

ORG = "00000000-0000-0000-0000-0000000000a1"


def _nodes(plan: dict[str, Any]) -> list[dict[str, Any]]:
    found = [plan]
    for child in plan.get("Plans", []):
        found += _nodes(child)
    return found


async def _plan_of(conn: asyncpg.Connection, **filters: Any) -> list[dict[str, Any]]:
    sql, args = audit_sql(org_id=ORG, limit=101, **filters)
    explained = await conn.fetchval(f"explain (format json) {sql}", *args)
    return _nodes(json.loads(explained)[0]["Plan"])


async def test_rare_actors_and_types_are_found_by_their_index(fresh_database_url: str) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        # 50,000 events of one org: five kinds by four annotators, and a manager's three.
        await conn.execute(
            "insert into eventlog.events (stream_name, stream_position, event_type, schema_version,"
            " org_id, data, metadata, event_id)"
            " select 'label-' || i, 0, (array['ResponsesRanked', 'QuestionAnswered',"
            " 'ResponseCrowned', 'LabelSubmitted', 'TaskLeased'])[1 + i % 5], 1, $1::uuid, '{}',"
            " jsonb_build_object('actor_id', case when i % 20000 = 7 then 'manager'"
            " else 'annotator-' || (i % 4) end, 'actor_role', 'ANNOTATOR',"
            " 'project_id', 'p-' || (i % 3)), gen_random_uuid() from generate_series(1, 50000) i",
            ORG,
        )
        await conn.execute("analyze eventlog.events")
        for filters, index in (
            ({"actor_id": "manager"}, "events_org_actor"),
            ({"actor_id": "nobody"}, "events_org_actor"),
            ({"types": ["LabelRejected"]}, "events_org_type"),
            ({"types": ["LabelRejected", "IssueOpened"]}, "events_org_type"),
            ({"types": ["LabelRejected"], "project_id": "p-1"}, "events_org_type"),
            ({"actor_id": "manager", "after_position": 25000}, "events_org_actor"),
        ):
            nodes = await _plan_of(conn, **filters)
            used = {n.get("Index Name") for n in nodes}
            assert index in used, (filters, used)
            assert not any(n["Node Type"] == "Seq Scan" for n in nodes), (filters, nodes)
            assert "events_org_order" not in used, (filters, used)
    finally:
        await conn.close()


async def test_a_query_from_a_time_reads_from_the_last_mark_before_it(
    fresh_database_url: str,
) -> None:
    conn = await asyncpg.connect(fresh_database_url)
    try:
        # 50,000 events a second apart, and a mark every 1,000 of them.
        await conn.execute(
            "insert into eventlog.events (stream_name, stream_position, event_type, schema_version,"
            " org_id, data, metadata, event_id, recorded_at)"
            " select 'label-' || i, 0, 'ResponsesRanked', 1, $1::uuid, '{}',"
            ' \'{"actor_id": "a", "actor_role": "ANNOTATOR"}\', gen_random_uuid(),'
            " timestamptz '2026-01-01' + i * interval '1 second' from generate_series(1, 50000) i",
            ORG,
        )
        await conn.execute(
            "insert into eventlog.time_marks (marked_at, position)"
            " select recorded_at + interval '1 millisecond', global_position from eventlog.events"
            " where stream_name like 'label-%000'"
        )
        await conn.execute("analyze eventlog.events")
        since = await conn.fetchval(
            "select recorded_at from eventlog.events where stream_name = 'label-49500'"
        )
        sql, args = audit_sql(org_id=ORG, since=since, limit=101)
        explained = await conn.fetchval(f"explain (analyze, format json) {sql}", *args)
        nodes = _nodes(json.loads(explained)[0]["Plan"])
        read = sum(
            n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0)
            for n in nodes
            if n["Node Type"] == "Index Scan"
        )
        assert read <= 1000 + 101, nodes
        rows = await conn.fetchval(sql, *args)
        assert json.loads(rows)[0]["recorded_at"].startswith("2026-01-01T13:45:00")
    finally:
        await conn.close()


async def test_a_tasks_catch_up_reads_the_tasks_events_not_the_log(fresh_database_url: str) -> None:
    """A task subscription resumed from far back (``taskEvents(after: 0)``) reads the task's
    events and the org's membership changes by their indexes, not the log in commit order
    (planned per call, as ``EventStore.read_all`` does for a task)."""
    conn = await asyncpg.connect(fresh_database_url)
    try:
        await conn.execute(
            "insert into eventlog.events (stream_name, stream_position, event_type, schema_version,"
            " org_id, data, metadata, event_id)"
            " select 'label-' || i, 0, 'ResponsesRanked', 1, $1::uuid, '{}',"
            " jsonb_build_object('actor_id', 'a', 'actor_role', 'ANNOTATOR', 'project_id', 'p',"
            " 'task_id', 't-' || (i % 5000)), gen_random_uuid() from generate_series(1, 50000) i",
            ORG,
        )
        await conn.execute("analyze eventlog.events")
        where, args = read_all_where(
            START, org_id=ORG, task_id="t-7", also_types=["MemberAdded", "MemberRemoved"]
        )
        sql = _events_sql(where, "tx_id, global_position", "$3")
        explained = await conn.fetchval(f"explain (format json) {sql}", *args)
        used = {n.get("Index Name") for n in _nodes(json.loads(explained)[0]["Plan"])}
        assert "events_task" in used and "events_org_type" in used, used
        assert "events_commit_order" not in used and "events_pkey" not in used, used
        got = json.loads(await conn.fetchval(sql, *args))
        assert len(got) == 10 and {e["metadata"]["task_id"] for e in got} == {"t-7"}
    finally:
        await conn.close()


async def test_a_labels_trail_is_found_among_its_tasks_events(fresh_database_url: str) -> None:
    """``auditLog(filter: {labelId})``: label_id has no index; the label's events are read
    by its task's (an event naming a label names its task), not the org's trail."""
    conn = await asyncpg.connect(fresh_database_url)
    try:
        # 50,000 events of 5,000 tasks, two labels a task: each label's stream starts with
        # its first event, and the task's other events name the label too.
        await conn.execute(
            "insert into eventlog.events (stream_name, stream_position, event_type, schema_version,"
            " org_id, data, metadata, event_id)"
            " select case when i < 10000 then 'label-l-' || i else 'task-t-' || (i % 5000) end,"
            " case when i < 10000 then 0 else i / 5000 end, 'ResponsesRanked', 1, $1::uuid, '{}',"
            " jsonb_build_object('actor_id', 'a', 'actor_role', 'ANNOTATOR', 'project_id', 'p',"
            " 'task_id', 't-' || (i % 5000), 'label_id', 'l-' || (i % 10000)),"
            " gen_random_uuid() from generate_series(0, 49999) i",
            ORG,
        )
        await conn.execute("analyze eventlog.events")
        nodes = await _plan_of(conn, label_id="l-7")
        used = {n.get("Index Name") for n in nodes}
        assert "events_task" in used, used
        assert not any(n["Node Type"] == "Seq Scan" for n in nodes), nodes
        assert "events_org_order" not in used, used
        sql, args = audit_sql(org_id=ORG, label_id="l-7", limit=101)
        got = json.loads(await conn.fetchval(sql, *args))
        assert len(got) == 5 and {e["metadata"]["label_id"] for e in got} == {"l-7"}
        # Another org's label: nothing, whatever its id.
        sql, args = audit_sql(org_id=ORG.replace("a1", "b2"), label_id="l-7", limit=101)
        assert json.loads(await conn.fetchval(sql, *args) or "[]") == []
    finally:
        await conn.close()


async def test_a_projects_catch_up_reads_the_projects_events_since_the_cursors_time(
    fresh_database_url: str,
) -> None:
    """A project subscription resumed from a cursor (``projectEvents(after:)``) reads the
    project's events by its index from the last time mark before the cursor's event, not the
    log in commit order since the cursor, which is every tenant's events (planned per call,
    as ``EventStore.read_all`` does for a project)."""
    conn = await asyncpg.connect(fresh_database_url)
    try:
        # 50,000 events a second apart, 100 a transaction, of 50 projects in 50 orgs (project
        # p-7 in ORG), and a mark every 1,000 of them.
        for start in range(1, 50001, 100):
            await conn.execute(
                "insert into eventlog.events (stream_name, stream_position, event_type,"
                " schema_version, org_id, data, metadata, event_id, recorded_at)"
                " select 'label-' || i, 0, 'ResponsesRanked', 1,"
                " case when i % 50 = 7 then $1::uuid else gen_random_uuid() end, '{}',"
                " jsonb_build_object('actor_id', 'a', 'actor_role', 'ANNOTATOR', 'project_id',"
                " 'p-' || (i % 50)), gen_random_uuid(),"
                " timestamptz '2026-01-01' + i * interval '1 second'"
                " from generate_series($2::int, $2 + 99) i",
                ORG,
                start,
            )
        await conn.execute(
            "insert into eventlog.time_marks (marked_at, position)"
            " select recorded_at + interval '1 millisecond', global_position from eventlog.events"
            " where stream_name like 'label-%000'"
        )
        await conn.execute("analyze eventlog.events")
        cursor = await conn.fetchrow(
            "select tx_id::text::bigint, global_position from eventlog.events"
            " where stream_name = 'label-40007'"
        )
        where, args = read_all_where(Cursor(cursor[0], cursor[1]), org_id=ORG, project_id="p-7")
        sql = _events_sql(where, "tx_id, global_position", "$3")
        explained = await conn.fetchval(f"explain (analyze, format json) {sql}", *args)
        nodes = _nodes(json.loads(explained)[0]["Plan"])
        used = {n.get("Index Name") for n in nodes}
        assert "events_project" in used and "events_commit_order" not in used, used
        read = sum(
            n.get("Actual Rows", 0) + n.get("Rows Removed by Filter", 0)
            for n in nodes
            if n.get("Index Name") == "events_project"
        )
        # The project's events since the mark before the cursor: 200 of its 1,000.
        assert read <= 1000 // 50 + 200 + 10, nodes
        got = json.loads(await conn.fetchval(sql, *args))
        assert [e["stream_name"] for e in got] == [f"label-{i}" for i in range(40057, 50001, 50)]
    finally:
        await conn.close()
