"""Removing a project member: access ends at once, their leases go back, their labels stay."""

from __future__ import annotations

from typing import Any

import pytest

from preflog_contracts.errors import Forbidden, Invalid, NotFound
from preflog_contracts.rpc import labeling as api


async def claim(service: Any, who: Any, project_id: str) -> api.TaskView | None:
    return await service.call(who, "claim_next_task", api.ProjectRef(project_id=project_id), api.TaskView | None)


async def remove(service: Any, who: Any, project_id: str, user_id: str) -> api.MemberRemovedView:
    return await service.call(
        who,
        "remove_project_member",
        api.RemoveProjectMemberRequest(project_id=project_id, user_id=user_id),
        api.MemberRemovedView,
    )


async def test_a_removed_annotator_loses_access_and_their_lease_returns_to_the_queue(service: Any) -> None:
    org = service.org()
    leaving, staying, manager = org.user(), org.user(), org.user()
    project, _ = await service.project(
        org,
        rows=1,
        members={leaving.user_id: "ANNOTATOR", staying.user_id: "ANNOTATOR", manager.user_id: "MANAGER"},
    )
    task = await claim(service, leaving, project.id)
    assert task is not None
    await service.call(
        leaving,
        "rank_responses",
        api.RankResponsesRequest(
            task_id=task.id, ranking=[api.RankInput(response_id=f"p0r{i}", rank=i + 1) for i in range(3)]
        ),
        api.LabelView,
    )
    assert await claim(service, staying, project.id) is None  # the only task is leased

    removed = await remove(service, manager, project.id, leaving.user_id)
    assert removed.released_leases == 1

    again = await claim(service, staying, project.id)
    assert again is not None and again.id == task.id  # back in the queue at once
    with pytest.raises(Forbidden):
        await claim(service, leaving, project.id)
    with pytest.raises(Forbidden):
        await service.call(
            leaving,
            "crown_response",
            api.CrownResponseRequest(task_id=task.id, response_id="p0r0"),
            api.LabelView,
        )
    with pytest.raises((Forbidden, NotFound)):
        await service.call(leaving, "get_project", api.ProjectRef(project_id=project.id), api.ProjectView)
    page = await service.call(leaving, "list_projects", api.ListProjectsRequest(), api.ProjectPage)
    assert project.id not in [p.id for p in page.items]
    # What they labeled stays, for those who see every label.
    seen = await service.call(org.admin, "get_task", api.TaskRef(task_id=task.id), api.TaskView)
    assert leaving.user_id in [label.author_id for label in seen.labels]
    view = await service.call(org.admin, "get_project", api.ProjectRef(project_id=project.id), api.ProjectView)
    assert leaving.user_id not in [m.user_id for m in view.members]


async def test_who_may_remove_whom(service: Any) -> None:
    org = service.org()
    owner, manager, annotator, stranger = org.user(), org.user(), org.user(), org.user()
    project, _ = await service.project(
        org,
        rows=0,
        members={owner.user_id: "OWNER", manager.user_id: "MANAGER", annotator.user_id: "ANNOTATOR"},
    )
    with pytest.raises(Forbidden):
        await remove(service, annotator, project.id, manager.user_id)  # annotators manage nobody
    with pytest.raises(Forbidden):
        await remove(service, manager, project.id, owner.user_id)  # an owner takes an owner
    with pytest.raises(NotFound):
        await remove(service, manager, project.id, stranger.user_id)  # not a member
    other = service.org()
    with pytest.raises((Forbidden, NotFound)):
        await remove(service, other.admin, project.id, annotator.user_id)  # another org
    await remove(service, manager, project.id, annotator.user_id)
    # The admin who made the project is an owner too; the last owner stays.
    await remove(service, owner, project.id, org.admin.user_id)
    with pytest.raises(Invalid) as last:
        await remove(service, org.admin, project.id, owner.user_id)
    assert "owner" in last.value.message
    view = await service.call(org.admin, "get_project", api.ProjectRef(project_id=project.id), api.ProjectView)
    assert {m.user_id: m.role for m in view.members} == {owner.user_id: "OWNER", manager.user_id: "MANAGER"}
