"""DOMAIN.md's role matrix, enforced inside the service: every operation by every role.

Roles: the project's OWNER, MANAGER, REVIEWER and ANNOTATOR; an org ADMIN who is not a
member; a member of the org who is not in the project (OUTSIDER); and the admin of another
org (OTHER_ORG), who must get NOT_FOUND and change nothing. A refusal leaves no event.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import pytest

from preflog_contracts.errors import Forbidden, NotFound, PreflogError
from preflog_contracts.events.labels import Target
from preflog_contracts.events.projects import Option, Question
from preflog_contracts.identity import Identity
from preflog_contracts.rpc import labeling as api

ROLES = ["OWNER", "MANAGER", "REVIEWER", "ANNOTATOR", "ADMIN", "OUTSIDER", "OTHER_ORG"]
LABELERS = {"OWNER", "MANAGER", "REVIEWER", "ANNOTATOR"}
MANAGERS = {"OWNER", "MANAGER", "ADMIN"}
REVIEWERS = {"OWNER", "MANAGER", "REVIEWER", "ADMIN"}
QUESTIONS = [Question(id="best", title="Best", kind="RADIO", options=[Option(value="A"), Option(value="B")])]


@dataclass
class World:
    org: Any
    project: api.ProjectView
    users: dict[str, Identity]
    worker_task: str  # claimed by a separate annotator ("worker")
    dataset_rows: list[str]


async def make_world(service: Any) -> World:
    org = service.org()
    users = {r: org.user(f"{r.lower()}-{org.org_id[:6]}") for r in ("OWNER", "MANAGER", "REVIEWER", "ANNOTATOR")}
    worker = org.user(f"worker-{org.org_id[:6]}")
    members = {u.user_id: r for r, u in users.items()} | {worker.user_id: "ANNOTATOR"}
    project, _ = await service.project(
        org,
        members=members,
        rows=6,
        ontology=api.OntologyInput(questions=QUESTIONS),
        settings=api.ProjectSettingsPatch(
            allow_response_edit=True, allow_response_add=True, allow_response_delete=True
        ),
    )
    task = await service.call(worker, "claim_next_task", api.ProjectRef(project_id=project.id), api.TaskView | None)
    users["ADMIN"] = org.user(f"admin2-{org.org_id[:6]}", "ADMIN")  # an org admin who is not a member
    users["OUTSIDER"] = org.user(f"outsider-{org.org_id[:6]}")
    other = service.org()
    users["OTHER_ORG"] = other.admin
    _, rows = await service.import_rows(org, 1)
    return World(org, project, users, task.id, rows)


def _label_op(op: str, task_id: str) -> Any:
    return {
        "rank_responses": api.RankResponsesRequest(
            task_id=task_id, ranking=[api.RankInput(response_id=f"p0r{i}", rank=i + 1) for i in range(3)]
        ),
        "crown_response": api.CrownResponseRequest(task_id=task_id, response_id="p0r0"),
        "edit_response": api.EditResponseRequest(task_id=task_id, response_id="p0r0", content="edited"),
        "add_response": api.AddResponseRequest(task_id=task_id, content="new"),
        "delete_response": api.DeleteResponseRequest(task_id=task_id, response_id="p0r1"),
        "answer_question": api.AnswerQuestionRequest(task_id=task_id, question_id="best", answer="A"),
        "add_comment": api.AddCommentRequest(task_id=task_id, body="note", target=Target(response_id="p0r0")),
        "submit_label": api.TaskRef(task_id=task_id),
        "skip_task": api.SkipTaskRequest(task_id=task_id, reason="unclear"),
        "release_task": api.TaskRef(task_id=task_id),
    }[op]


LABEL_OPS = [
    "rank_responses",
    "crown_response",
    "edit_response",
    "add_response",
    "delete_response",
    "answer_question",
    "add_comment",
    "submit_label",
    "skip_task",
    "release_task",
    "undo",
    "redo",
]


async def _org_events(service: Any, org_id: str) -> int:
    return int(await service.rt.pool.fetchval("select count(*) from eventlog.events where org_id = $1", org_id))


async def _expect(service: Any, world: World, role: str, allowed: bool, call: Any) -> Any:
    if allowed:
        return await call()
    before = await _org_events(service, world.org.org_id)
    expected: type[PreflogError] = NotFound if role == "OTHER_ORG" else Forbidden
    with pytest.raises(expected):
        await call()
    assert await _org_events(service, world.org.org_id) == before
    return None


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize("op", LABEL_OPS)
async def test_label_actions(service: Any, op: str, role: str) -> None:
    world = await make_world(service)
    who = world.users[role]
    if role in LABELERS:
        task = await service.call(
            who, "claim_next_task", api.ProjectRef(project_id=world.project.id), api.TaskView | None
        )
        task_id = task.id
        if op in ("undo", "redo"):
            await service.call(who, "crown_response", _label_op("crown_response", task_id))
        if op == "redo":
            await service.call(who, "undo", api.TaskRef(task_id=task_id))
    else:
        task_id = world.worker_task
    body = api.TaskRef(task_id=task_id) if op in ("undo", "redo") else _label_op(op, task_id)
    await _expect(service, world, role, role in LABELERS, lambda: service.call(who, op, body))


@pytest.mark.parametrize("role", ROLES)
async def test_claim(service: Any, role: str) -> None:
    world = await make_world(service)
    who = world.users[role]
    result = await _expect(
        service,
        world,
        role,
        role in LABELERS,
        lambda: service.call(who, "claim_next_task", api.ProjectRef(project_id=world.project.id), api.TaskView | None),
    )
    if role in LABELERS:
        assert result is not None and result.leased_by == who.user_id


@pytest.mark.parametrize("role", ROLES)
@pytest.mark.parametrize(
    "op",
    [
        "update_ontology",
        "update_project_settings",
        "add_project_member",
        "add_owner",
        "add_data_rows_to_project",
        "requeue_task",
    ],
)
async def test_management(service: Any, op: str, role: str) -> None:
    world = await make_world(service)
    who = world.users[role]
    pid = world.project.id
    if op == "requeue_task":
        skipped = await service.call(
            world.users["ANNOTATOR"], "claim_next_task", api.ProjectRef(project_id=pid), api.TaskView
        )
        await service.call(world.users["ANNOTATOR"], "skip_task", api.SkipTaskRequest(task_id=skipped.id, reason="x"))
    call, body = {
        "update_ontology": (
            "update_ontology",
            api.UpdateOntologyRequest(project_id=pid, ontology=api.OntologyInput(questions=QUESTIONS[:1])),
        ),
        "update_project_settings": (
            "update_project_settings",
            api.UpdateProjectSettingsRequest(project_id=pid, settings=api.ProjectSettingsPatch(rank_mode="SCALE_0_3")),
        ),
        "add_project_member": (
            "add_project_member",
            api.AddProjectMemberRequest(project_id=pid, user_id="newbie", role="ANNOTATOR"),
        ),
        "add_owner": (
            "add_project_member",
            api.AddProjectMemberRequest(project_id=pid, user_id="newbie", role="OWNER"),
        ),
        "add_data_rows_to_project": (
            "add_data_rows_to_project",
            api.AddDataRowsRequest(project_id=pid, data_row_ids=world.dataset_rows),
        ),
        "requeue_task": ("requeue_task", api.TaskRef(task_id=skipped.id if op == "requeue_task" else "")),
    }[op]
    allowed = role in ({"OWNER", "ADMIN"} if op == "add_owner" else MANAGERS)
    await _expect(service, world, role, allowed, lambda: service.call(who, call, body))


@pytest.mark.parametrize("role", ROLES)
async def test_seeing(service: Any, role: str) -> None:
    world = await make_world(service)
    who = world.users[role]
    await service.settle()
    await _expect(
        service,
        world,
        role,
        role in LABELERS | {"ADMIN"},
        lambda: service.call(who, "get_project", api.ProjectRef(project_id=world.project.id), api.ProjectView),
    )
    # another annotator's task: reviewers and up only
    await _expect(
        service,
        world,
        role,
        role in REVIEWERS,
        lambda: service.call(who, "get_task", api.TaskRef(task_id=world.worker_task), api.TaskView),
    )
    # batch reads leave out what the caller may not see, across orgs too
    tasks = await service.call(who, "get_tasks", api.IdsRequest(ids=[world.worker_task]), list[api.TaskView])
    assert len(tasks) == (1 if role in REVIEWERS else 0)
    await _expect(
        service,
        world,
        role,
        role in REVIEWERS,
        lambda: service.call(who, "task_history", api.TaskRef(task_id=world.worker_task), list[api.HistoryEntry]),
    )
    page = await _expect(
        service,
        world,
        role,
        role in LABELERS | {"ADMIN"},
        lambda: service.call(who, "list_tasks", api.ListTasksRequest(project_id=world.project.id), api.TaskPage),
    )
    if page is not None:  # annotators list only tasks they have a label on
        assert (world.worker_task in [t.id for t in page.items]) == (role in REVIEWERS)
    listed = await service.call(who, "list_projects", api.ListProjectsRequest(), api.ProjectPage)
    assert (world.project.id in [p.id for p in listed.items]) == (role in LABELERS | {"ADMIN"})


@pytest.mark.parametrize("role", ROLES)
async def test_create_project(service: Any, role: str) -> None:
    world = await make_world(service)
    who = world.users[role]
    if role == "OTHER_ORG":  # an admin of their own org: creates there, nothing here
        before = await _org_events(service, world.org.org_id)
        made = await service.call(who, "create_project", api.CreateProjectRequest(name="theirs"), api.ProjectView)
        assert made.my_role == "OWNER" and await _org_events(service, world.org.org_id) == before
        return
    made = await _expect(
        service,
        world,
        role,
        role == "ADMIN",
        lambda: service.call(who, "create_project", api.CreateProjectRequest(name="x"), api.ProjectView),
    )
    if made is not None:
        assert [(m.user_id, m.role) for m in made.members] == [(who.user_id, "OWNER")]
