"""Removing a project member: access ends at once, their leases go back, their labels stay."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from preflog_contracts.errors import Conflict, Forbidden, Invalid, NotFound
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


async def test_an_annotator_removed_while_working_leaves_no_lease_and_acts_no_more(service: Any) -> None:
    """Two annotators claim, crown and submit as fast as they can while a manager removes
    one of them. Once the removal has answered, the removed one holds no lease, every
    further call of theirs is refused, and the queue's counts match its assignments."""
    org = service.org()
    leaving, staying, manager = org.user(), org.user(), org.user()
    project, _ = await service.project(
        org,
        rows=60,
        members={leaving.user_id: "ANNOTATOR", staying.user_id: "ANNOTATOR", manager.user_id: "MANAGER"},
    )
    removed = asyncio.Event()
    working = asyncio.Event()  # the leaving annotator has submitted a few tasks
    unexpected: list[BaseException] = []
    after_removal: list[str] = []
    stopped: list[bool] = []  # the removed annotator was refused mid-work

    async def work(who: Any) -> None:
        done = 0
        while True:
            was_removed = removed.is_set()
            try:
                task = await claim(service, who, project.id)
                if task is None:
                    return
                await service.call(
                    who, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r0"), api.LabelView
                )
                await service.call(who, "submit_label", api.TaskRef(task_id=task.id), api.LabelView)
                if was_removed and who is leaving:
                    after_removal.append(task.id)
                done += 1
                if who is leaving and done == 3:
                    working.set()
            except Forbidden:
                if who is leaving:
                    stopped.append(removed.is_set())
                    return
                unexpected.append(AssertionError("the staying annotator was refused"))
                return
            except (Invalid, Conflict):
                continue
            except Exception as exc:  # anything else is a failure of the service
                unexpected.append(exc)
                return

    async def remove_soon() -> None:
        # Mid-work, not after a fixed time: on a fast host the queue was empty after 0.3 s,
        # and the removed annotator was never refused.
        await working.wait()
        await remove(service, manager, project.id, leaving.user_id)
        removed.set()

    await asyncio.gather(work(leaving), work(staying), remove_soon())
    assert unexpected == [] and after_removal == [] and len(stopped) == 1
    pool = service.rt.pool
    held = await pool.fetchval(
        "select count(*) from labeling.assignments a join labeling.tasks t using (task_id)"
        " where t.project_id = $1 and a.user_id = $2 and a.lease_expires_at is not null",
        project.id,
        leaving.user_id,
    )
    assert held == 0
    rows = await service.queue_counts(project.id)
    for r in rows:
        assert (r["open_leases"], r["submitted_labels"]) == (r["leases"], r["submitted"]), dict(r)
    assert all(r["status"] != "TO_LABEL" for r in rows)  # the one who stayed labelled the rest
