"""Archiving a project: owners and org admins only; an archived project takes no claims, label
actions or new rows, and drops out of the project list unless asked for; unarchiving it lets
the work go on where it stopped."""

from __future__ import annotations

from typing import Any

import pytest

from preflog_contracts.errors import Forbidden, Invalid
from preflog_contracts.rpc import labeling as api

RANK = [api.RankInput(response_id=f"p0r{i}", rank=i + 1) for i in range(3)]


async def _archived(service: Any, who: Any, project_id: str, archived: bool, key: str | None = None) -> bool:
    op = "archive_project" if archived else "unarchive_project"
    view = await service.call(who, op, api.ProjectRef(project_id=project_id), api.ProjectView, key=key)
    return bool(view.archived)


async def _listed(service: Any, who: Any, include_archived: bool) -> dict[str, bool]:
    page = await service.call(
        who, "list_projects", api.ListProjectsRequest(include_archived=include_archived), api.ProjectPage
    )
    return {p.id: p.archived for p in page.items}


async def test_an_archived_project_takes_no_work_until_it_is_unarchived(service: Any) -> None:
    org = service.org()
    owner, manager, reviewer, working, waiting = (org.user() for _ in range(5))
    project, _ = await service.project(
        org,
        rows=2,
        members={
            owner.user_id: "OWNER",
            manager.user_id: "MANAGER",
            reviewer.user_id: "REVIEWER",
            working.user_id: "ANNOTATOR",
            waiting.user_id: "ANNOTATOR",
        },
    )
    pid = project.id
    task = await service.call(working, "claim_next_task", api.ProjectRef(project_id=pid), api.TaskView | None)
    assert task is not None
    rank = api.RankResponsesRequest(task_id=task.id, ranking=RANK)
    await service.call(working, "rank_responses", rank, api.LabelView)

    for who in (manager, reviewer, working):
        with pytest.raises(Forbidden):
            await _archived(service, who, pid, True)
    assert await _archived(service, owner, pid, True, key="archive-1") is True
    assert await _archived(service, owner, pid, True, key="archive-1") is True  # a keyed repeat
    assert await _archived(service, org.admin, pid, True) is True  # already: nothing new
    events = await service.rt.pool.fetchval(
        "select count(*) from eventlog.events where stream_name = $1 and event_type = 'ProjectArchived'",
        f"project-{pid}",
    )
    assert events == 1

    # No label action, no claim, no new rows; the project leaves the default list.
    with pytest.raises(Invalid) as refused:
        await service.call(working, "rank_responses", rank, api.LabelView)
    assert "archived" in refused.value.message
    with pytest.raises(Invalid):
        await service.call(working, "submit_label", api.TaskRef(task_id=task.id), api.LabelView)
    with pytest.raises(Invalid):
        await service.call(waiting, "claim_next_task", api.ProjectRef(project_id=pid), api.TaskView | None)
    _, more = await service.import_rows(org, 1)
    with pytest.raises(Invalid):
        await service.call(
            manager, "add_data_rows_to_project", api.AddDataRowsRequest(project_id=pid, data_row_ids=more)
        )
    for who in (working, org.admin):
        assert pid not in await _listed(service, who, include_archived=False)
        assert (await _listed(service, who, include_archived=True))[pid] is True
    seen = await service.call(working, "get_project", api.ProjectRef(project_id=pid), api.ProjectView)
    assert seen.archived is True
    # The open lease ended with the archive; the draft stays its author's.
    released = [r for r in await service.rt.store.read_stream(f"task-{task.id}") if r.event_type == "TaskReleased"]
    assert [bytes(r.data).count(b'"project_archived"') for r in released] == [1]
    archived = [r for r in await service.rt.store.read_stream(f"project-{pid}") if r.event_type == "ProjectArchived"]
    # The release is the system's, on behalf of the archive: the same request's correlation.
    assert released[0].metadata.actor_role == "SYSTEM"
    assert released[0].metadata.correlation_id == archived[0].metadata.correlation_id != ""
    leases = await service.rt.pool.fetchval(
        "select count(*) from labeling.assignments where project_id = $1 and lease_expires_at is not null", pid
    )
    assert leases == 0

    # Unarchived (by an org admin): the work goes on where it stopped.
    with pytest.raises(Forbidden):
        await _archived(service, manager, pid, False)
    assert await _archived(service, org.admin, pid, False) is False
    again = await service.call(working, "claim_next_task", api.ProjectRef(project_id=pid), api.TaskView | None)
    assert again is not None and again.id == task.id and again.my_label is not None
    assert again.my_label.id == task.my_label.id  # their draft, as they left it
    label = await service.call(working, "rank_responses", rank, api.LabelView)
    assert label.task_id == task.id
    other = await service.call(waiting, "claim_next_task", api.ProjectRef(project_id=pid), api.TaskView | None)
    assert other is not None and other.id != task.id
    assert (await _listed(service, working, include_archived=False))[pid] is False
