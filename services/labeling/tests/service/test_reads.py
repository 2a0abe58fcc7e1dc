"""Read side: paging, batch gets for DataLoaders, data rows, time travel per viewer."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import msgspec
import pytest

from preflog_contracts.errors import Forbidden, NotFound
from preflog_contracts.rpc import labeling as api


async def test_list_tasks_pages_with_a_cursor(service: Any) -> None:
    org = service.org()
    project, _ = await service.project(org, rows=7)
    seen: list[str] = []
    after = None
    while True:
        page = await service.call(
            org.admin, "list_tasks", api.ListTasksRequest(project_id=project.id, first=3, after=after), api.TaskPage
        )
        seen += [t.id for t in page.items]
        if not page.has_next_page:
            break
        after = page.next_cursor
    assert len(seen) == 7 == len(set(seen))
    todo = await service.call(
        org.admin, "list_tasks", api.ListTasksRequest(project_id=project.id, status="DONE"), api.TaskPage
    )
    assert todo.items == []


async def test_batch_gets_answer_in_one_call_and_leave_out_the_invisible(service: Any) -> None:
    org = service.org()
    a, b = org.user(), org.user()
    project, rows = await service.project(org, members={a.user_id: "ANNOTATOR", b.user_id: "ANNOTATOR"}, rows=2)
    ta = await service.call(a, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView)
    tb = await service.call(b, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView)
    await service.settle()
    calls = service.rt.rpc.calls
    mine = await service.call(a, "get_tasks", api.IdsRequest(ids=[ta.id, tb.id, "nope"]), list[api.TaskView])
    assert [t.id for t in mine] == [ta.id] and service.rt.rpc.calls == calls + 1
    everything = await service.call(org.admin, "get_tasks", api.IdsRequest(ids=[ta.id, tb.id]), list[api.TaskView])
    assert {t.id for t in everything} == {ta.id, tb.id}
    both = api.IdsRequest(ids=[ta.my_label.id, tb.my_label.id])
    labels = await service.call(a, "get_labels", both, list[api.LabelView])
    assert [x.id for x in labels] == [ta.my_label.id]
    with pytest.raises(NotFound):
        await service.call(a, "get_label", api.LabelRef(label_id=tb.my_label.id))
    with pytest.raises(Forbidden):
        await service.call(a, "get_task", api.TaskRef(task_id=tb.id))
    admin_rows = await service.call(org.admin, "get_data_rows", api.IdsRequest(ids=rows), list[api.DataRowView])
    assert {r.id for r in admin_rows} == set(rows)
    own_rows = await service.call(a, "get_data_rows", api.IdsRequest(ids=rows), list[api.DataRowView])
    assert [r.id for r in own_rows] == [ta.data_row_id]
    stranger = service.org().admin
    assert await service.call(stranger, "get_data_rows", api.IdsRequest(ids=rows), list[api.DataRowView]) == []
    assert await service.call(stranger, "get_tasks", api.IdsRequest(ids=[ta.id]), list[api.TaskView]) == []
    with pytest.raises(NotFound):
        await service.call(stranger, "task_as_of", api.TaskAsOfRequest(task_id=ta.id, at=datetime.now(UTC)))


async def test_task_as_of_before_creation_and_for_an_annotator(service: Any) -> None:
    org = service.org()
    a = org.user()
    before = datetime.now(UTC)
    project, _ = await service.project(org, members={a.user_id: "ANNOTATOR"}, rows=1)
    task = await service.call(a, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView)
    assert (
        await service.call(
            org.admin, "task_as_of", api.TaskAsOfRequest(task_id=task.id, at=before), api.TaskView | None
        )
        is None
    )
    await service.call(a, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id="p0r2"))
    now = await service.call(a, "task_as_of", api.TaskAsOfRequest(task_id=task.id, at=datetime.now(UTC)), api.TaskView)
    assert now.my_label.crowns[0].response_id == "p0r2" and now.leased_by == a.user_id


async def test_a_view_straight_after_an_action_shows_it(service: Any) -> None:
    """Read-your-writes: the label read model trails the log, yet the task and label views
    asked for right after each action (the annotation UI does exactly that) show it."""
    org = service.org()
    ann, boss = org.user(), org.user()
    members = {ann.user_id: "ANNOTATOR", boss.user_id: "REVIEWER"}
    project, _ = await service.project(org, members=members, rows=1)
    task = await service.call(ann, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView)
    # A reviewer's view of a label that was only just started.
    seen = await service.call(boss, "get_task", api.TaskRef(task_id=task.id), api.TaskView)
    assert [label.id for label in seen.labels] == [task.my_label.id]
    for i in range(12):
        response = f"p0r{i % 3}"
        after = await service.call(
            ann, "crown_response", api.CrownResponseRequest(task_id=task.id, response_id=response), api.LabelView
        )
        view = await service.call(ann, "get_task", api.TaskRef(task_id=task.id), api.TaskView)
        assert [c.response_id for c in view.my_label.crowns] == [response]
        label = await service.call(ann, "get_label", api.LabelRef(label_id=after.id), api.LabelView)
        # (updated_at is the service's clock in an action's reply, the log's once folded)
        assert same(label, after) and same(view.my_label, after)


def same(a: api.LabelView, b: api.LabelView) -> bool:
    return msgspec.structs.replace(a, updated_at=b.updated_at) == b


async def test_a_claim_answers_with_the_task_as_the_claimer_sees_it(service: Any) -> None:
    """The claim builds the annotator's view from what it just did; it must be the view a
    read gives, for a new label and for a draft taken up again after a release."""
    org = service.org()
    ann = org.user()
    project, _ = await service.project(org, members={ann.user_id: "ANNOTATOR"}, rows=2)
    for _ in range(2):
        claimed = await service.call(ann, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView)
        read = await service.call(ann, "get_task", api.TaskRef(task_id=claimed.id), api.TaskView)
        assert claimed.my_label is not None and read.my_label is not None
        assert same(read.my_label, claimed.my_label)
        normalised = msgspec.structs.replace(read, my_label=claimed.my_label, labels=[claimed.my_label])
        assert normalised == claimed
        await service.call(ann, "crown_response", api.CrownResponseRequest(task_id=claimed.id, response_id="p0r1"))
        await service.call(ann, "release_task", api.TaskRef(task_id=claimed.id))
