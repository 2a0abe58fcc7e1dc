"""A page of projects: each one current and counted, in a few statements for the page."""

from __future__ import annotations

from typing import Any

from preflog_contracts.envelope import Metadata, stream_name
from preflog_contracts.events.projects import MemberAdded
from preflog_contracts.rpc import labeling as api
from preflog_eventstore import ANY, StreamWrite


async def test_a_page_of_projects_is_current_and_counts_each_projects_tasks(service: Any) -> None:
    org = service.org()
    first, _ = await service.project(org, rows=3, name="first")
    second, _ = await service.project(org, rows=1, name="second")
    await service.settle()  # the list's index of projects is a projection
    await service.call(org.admin, "list_projects", api.ListProjectsRequest(), api.ProjectPage)
    # The second changes behind this process's back (another instance wrote it): the state
    # it has cached is no longer current, and the page must not show it.
    newcomer = org.user()
    await service.rt.store.append(
        StreamWrite(
            stream_name("project", second.id),
            [MemberAdded(project_id=second.id, user_id=newcomer.user_id, role="REVIEWER")],
            ANY,
        ),
        org_id=org.org_id,
        metadata=Metadata(actor_id=org.admin.user_id, actor_role="ADMIN"),
    )
    page = await service.call(org.admin, "list_projects", api.ListProjectsRequest(), api.ProjectPage)
    listed = {p.id: p for p in page.items}
    assert listed[first.id].progress.to_label == 3 and listed[second.id].progress.to_label == 1
    assert newcomer.user_id in [m.user_id for m in listed[second.id].members]
    for project in (first, second):
        alone = await service.call(org.admin, "get_project", api.ProjectRef(project_id=project.id), api.ProjectView)
        assert listed[project.id] == alone
