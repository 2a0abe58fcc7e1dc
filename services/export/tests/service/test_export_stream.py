"""The ``export`` stream end to end: upstream events, relay, consumer, read model, NDJSON."""

from __future__ import annotations

from typing import Any

import asyncpg
import pytest
from jsonschema import Draft202012Validator

from preflog_contracts.errors import Forbidden, Invalid, NotFound
from preflog_contracts.events.projects import MemberRemoved
from preflog_eventstore import EventStore
from preflog_export.domain import FORMAT_NAMES

from .conftest import Service, ctx_for, eventually, export_lines, seed_project

TASKS, APPROVED = 12, 9


def split(lines: list[dict[str, Any]]) -> tuple[list[dict[str, Any]], list[str]]:
    records = [line for line in lines if "_cursor" not in line]
    cursors = [line["_cursor"] for line in lines if "_cursor" in line]
    return records, cursors


@pytest.mark.parametrize("export_format", FORMAT_NAMES)
async def test_every_format_streams_valid_records(
    service: Service,
    store: EventStore,
    pool: asyncpg.Pool,
    validators: dict[str, Draft202012Validator],
    export_format: str,
) -> None:
    project = await seed_project(store, pool, TASKS, APPROVED)
    lines = await export_lines(
        service.runtime, project.manager_ctx, project_id=project.project_id, format=export_format
    )
    records, cursors = split(lines)
    assert "_cursor" in lines[-1], "the last line is the cursor"
    assert cursors
    for record in records:
        errors = list(validators[export_format].iter_errors(record))
        assert not errors, errors[0].message
    expected = {
        # One approved label per task: crowned tasks give crown-vs-each-other (2 pairs),
        # ranked tasks best-vs-rest (2 pairs).
        "dpo": 2 * APPROVED,
        "openai_preference": 2 * APPROVED,
        "hh": 2 * APPROVED,
        "reward_ranking": APPROVED,
        "native": APPROVED,
        "labelbox": APPROVED,
    }
    if export_format == "audit":
        types = {r["event_type"] for r in records}
        assert {"ProjectCreated", "TaskCreated", "LabelSubmitted", "LabelApproved"} <= types
        assert all(r["metadata"]["project_id"] == project.project_id for r in records)
    else:
        assert len(records) == expected[export_format]


async def test_dpo_pairs_come_from_crowns_and_rankings_with_edits(
    service: Service, store: EventStore, pool: asyncpg.Pool
) -> None:
    project = await seed_project(store, pool, 4, 4)
    records, _ = split(
        await export_lines(
            service.runtime, project.manager_ctx, project_id=project.project_id, format="dpo"
        )
    )
    by_task: dict[str, list[dict[str, Any]]] = {}
    for r in records:
        by_task.setdefault(r["task_id"], []).append(r)
    crowned = by_task[project.tasks[0]]
    assert {r["source"] for r in crowned} == {"crown"}
    assert {r["chosen_model"] for r in crowned} == {"alpha"}
    # B was edited by the annotator: it exports edited.
    rejected_b = next(r for r in crowned if r["rejected_response_id"] == "B")
    assert rejected_b["rejected"][0]["content"] == "edited b 0"
    ranked = by_task[project.tasks[1]]
    assert {r["source"] for r in ranked} == {"ranking"}
    assert {(r["chosen_response_id"], r["rejected_response_id"]) for r in ranked} == {
        ("C", "A"),
        ("C", "B"),
    }
    all_pairs, _ = split(
        await export_lines(
            service.runtime,
            project.manager_ctx,
            project_id=project.project_id,
            format="dpo",
            pair_strategy="all_pairs",
        )
    )
    ranked_all = {
        (r["chosen_response_id"], r["rejected_response_id"])
        for r in all_pairs
        if r["task_id"] == project.tasks[1]
    }
    assert ranked_all == {("C", "A"), ("C", "B"), ("A", "B")}
    # The model filter keeps pairs between the named models only.
    filtered, _ = split(
        await export_lines(
            service.runtime,
            project.manager_ctx,
            project_id=project.project_id,
            format="dpo",
            models=["alpha", "beta"],
        )
    )
    assert filtered
    assert all({r["chosen_model"], r["rejected_model"]} == {"alpha", "beta"} for r in filtered)


async def test_status_batch_and_time_filters(
    service: Service, store: EventStore, pool: asyncpg.Pool
) -> None:
    project = await seed_project(store, pool, 5, 3)
    ctx, pid = project.manager_ctx, project.project_id
    submitted, _ = split(
        await export_lines(
            service.runtime, ctx, project_id=pid, format="native", status="SUBMITTED"
        )
    )
    assert len(submitted) == 5
    approved, _ = split(await export_lines(service.runtime, ctx, project_id=pid, format="native"))
    assert len(approved) == 3
    batch, _ = split(
        await export_lines(
            service.runtime, ctx, project_id=pid, format="native", batch_id=project.batch_id
        )
    )
    assert len(batch) == 3
    late, _ = split(
        await export_lines(
            service.runtime,
            ctx,
            project_id=pid,
            format="native",
            since_time=project.clock.replace(year=project.clock.year + 1),
        )
    )
    assert late == []


async def test_bad_input_and_access_are_refused(
    service: Service, store: EventStore, pool: asyncpg.Pool
) -> None:
    project = await seed_project(store, pool, 2, 2)
    other = await seed_project(store, pool, 1, 1)
    rt, ctx, pid = service.runtime, project.manager_ctx, project.project_id
    with pytest.raises(Invalid) as bad_format:
        await export_lines(rt, ctx, project_id=pid, format="csv")
    assert "dpo" in bad_format.value.fields["format"]
    with pytest.raises(Invalid) as bad_status:
        await export_lines(rt, ctx, project_id=pid, format="dpo", status="DRAFT")
    assert "APPROVED" in bad_status.value.fields["status"]
    with pytest.raises(Invalid) as bad_batch:
        await export_lines(rt, ctx, project_id=pid, format="dpo", batch_id="nope")
    assert project.batch_id in bad_batch.value.fields["batch_id"]
    with pytest.raises(Invalid) as unknown_filter:
        body = {"project_id": pid, "format": "dpo", "colour": "red"}
        from preflog_messaging.streams import stream_call

        async for _ in stream_call(rt.rpc, "export", "export", body, ctx=ctx):
            pass
    assert "status" in next(iter(unknown_filter.value.fields.values()))
    # Cursors: forged, from another project, from other filters.
    _, cursors = split(await export_lines(rt, ctx, project_id=pid, format="dpo"))
    body_text, _, _ = cursors[-1].partition(".")
    with pytest.raises(Invalid):
        await export_lines(rt, ctx, project_id=pid, format="dpo", since=body_text + ".AAAA")
    with pytest.raises(Invalid):
        await export_lines(rt, ctx, project_id=pid, format="dpo", since="garbage")
    _, other_cursors = split(
        await export_lines(rt, other.manager_ctx, project_id=other.project_id, format="dpo")
    )
    other_admin = ctx_for(project.manager, project.org_id)
    with pytest.raises(Invalid) as foreign:
        await export_lines(rt, other_admin, project_id=pid, format="dpo", since=other_cursors[-1])
    assert "another project" in foreign.value.message
    with pytest.raises(Invalid):
        await export_lines(rt, ctx, project_id=pid, format="native", since=cursors[-1])
    # Roles: annotators and reviewers may not export; org admins may; other orgs see nothing.
    with pytest.raises(Forbidden):
        await export_lines(
            rt, ctx_for(project.annotator, project.org_id), project_id=pid, format="dpo"
        )
    with pytest.raises(Forbidden):
        await export_lines(rt, ctx_for("stranger", project.org_id), project_id=pid, format="dpo")
    admin = ctx_for("some-admin", project.org_id, role="ADMIN")
    assert await export_lines(rt, admin, project_id=pid, format="dpo")
    with pytest.raises(NotFound):
        await export_lines(rt, other.manager_ctx, project_id=pid, format="dpo")
    with pytest.raises(NotFound):
        await export_lines(rt, ctx, project_id="proj-missing", format="dpo")


async def test_a_manager_removed_from_the_project_may_no_longer_export(
    service: Service, store: EventStore, pool: asyncpg.Pool
) -> None:
    project = await seed_project(store, pool, 1, 1)
    rt, pid = service.runtime, project.project_id
    assert await export_lines(rt, project.manager_ctx, project_id=pid, format="dpo")
    await project.append(pid, [MemberRemoved(project_id=pid, user_id=project.manager)], "owner")

    async def forgotten() -> bool:
        return not await pool.fetchval(
            "select count(*) from export.members where project_id = $1 and user_id = $2"
            " and role is not null",
            pid,
            project.manager,
        )

    await eventually(forgotten)
    with pytest.raises(Forbidden):
        await export_lines(rt, project.manager_ctx, project_id=pid, format="dpo")
