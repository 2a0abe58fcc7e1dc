"""removeProjectMember through the gateway: the member's live events stop at once."""

from __future__ import annotations

import asyncio
import uuid

from .conftest import Server
from .flows import (
    add_rows,
    data_of,
    import_rows,
    new_dataset,
    new_member,
    new_project,
    shopping_row,
)
from .test_live import Subscriber

SETTINGS = """mutation($p: ID!, $on: Boolean!) {
  updateProjectSettings(projectId: $p, settings: {allowResponseEdit: $on}) { id } }"""
REMOVE = "mutation($p: ID!, $u: ID!) { removeProjectMember(projectId: $p, userId: $u) }"
ADD = """mutation($p: ID!, $u: ID!) {
  addProjectMember(projectId: $p, userId: $u, role: REVIEWER) { role } }"""


async def test_a_removed_reviewer_stops_receiving_the_projects_events(system: Server) -> None:
    project_id = await new_project(system)
    user_id, token = await new_member(system, project_id, "REVIEWER")
    watcher = await Subscriber.open(system, system.admin_token, {"p": project_id})
    leaving = await Subscriber.open(system, token, {"p": project_id})
    await asyncio.sleep(0.3)  # both subscriptions are registered
    data_of(await system.gql(SETTINGS, {"p": project_id, "on": True}))
    assert (await leaving.next())["type"] == "ProjectSettingsChanged"
    assert (await watcher.next())["type"] == "ProjectSettingsChanged"

    removed = await system.gql(REMOVE, {"p": project_id, "u": user_id})
    assert data_of(removed)["removeProjectMember"] is True
    data_of(await system.gql(SETTINGS, {"p": project_id, "on": False}))
    seen = [(await watcher.next())["type"] for _ in range(2)]
    assert seen == ["MemberRemoved", "ProjectSettingsChanged"]  # delivered, to those allowed
    assert await leaving.nothing_within(0.5)
    for s in (watcher, leaving):
        await s.close()

    gone = await system.gql(
        "query($p: ID!) { project(id: $p) { id } }", {"p": project_id}, token=token
    )
    assert gone["data"]["project"] is None or gone["errors"][0]["extensions"]["code"] in (
        "FORBIDDEN",
        "NOT_FOUND",
    )
    again = await system.gql(REMOVE, {"p": project_id, "u": user_id})
    assert again["errors"][0]["extensions"]["code"] == "NOT_FOUND"


async def test_membership_news_grants_and_history_does_not(system: Server) -> None:
    project_id = await new_project(system)
    data_of(await system.gql(SETTINGS, {"p": project_id, "on": True}))
    # Removed: replaying the project from its start shows them nothing of it.
    user_id, token = await new_member(system, project_id, "REVIEWER")
    data_of(await system.gql(REMOVE, {"p": project_id, "u": user_id}))
    replay = await Subscriber.open(system, token, {"p": project_id, "after": 0})
    assert await replay.nothing_within(0.5)
    # Added while subscribed: what follows the addition arrives.
    data_of(
        await system.gql(
            "mutation($p: ID!, $u: ID!) {"
            " addProjectMember(projectId: $p, userId: $u, role: REVIEWER) { role } }",
            {"p": project_id, "u": user_id},
        )
    )
    assert (await replay.next())["type"] == "MemberAdded"
    data_of(await system.gql(SETTINGS, {"p": project_id, "on": False}))
    assert (await replay.next())["type"] == "ProjectSettingsChanged"
    await replay.close()


TASK_SUB = """subscription($t: ID!) { taskEvents(taskId: $t) { id position type taskId } }"""


async def test_a_task_subscription_by_a_member_of_a_moment_ago_gets_its_events(
    system: Server,
) -> None:
    project_id = await new_project(system)
    dataset = await new_dataset(system)
    imported = await import_rows(system, dataset, [shopping_row(f"member-{uuid.uuid4().hex[:8]}")])
    (task_id,) = await add_rows(system, project_id, imported["dataRowIds"])
    _, reviewer = await new_member(system, project_id, "REVIEWER")
    _, annotator = await new_member(system, project_id, "ANNOTATOR")
    watching = await Subscriber.open(system, reviewer, {"t": task_id}, TASK_SUB)
    await asyncio.sleep(0.3)  # registered
    claimed = await system.gql(
        "mutation($p: ID!) { claimNextTask(projectId: $p) { id } }",
        {"p": project_id},
        token=annotator,
    )
    assert data_of(claimed)["claimNextTask"]["id"] == task_id
    assert (await watching.next())["taskId"] == task_id
    await watching.close()


async def test_a_removed_reviewers_task_subscription_stops(system: Server) -> None:
    # The removal is a project event with no task: a task subscription, offered its task's
    # events only, must still be offered the caller's membership changes to learn of it.
    project_id = await new_project(system)
    dataset = await new_dataset(system)
    rows = [shopping_row(f"gone-{uuid.uuid4().hex[:8]}") for _ in range(2)]
    imported = await import_rows(system, dataset, rows)
    await add_rows(system, project_id, imported["dataRowIds"])
    reviewer_id, reviewer = await new_member(system, project_id, "REVIEWER")
    _, annotator = await new_member(system, project_id, "ANNOTATOR")
    claim = "mutation($p: ID!) { claimNextTask(projectId: $p) { id } }"
    first = data_of(await system.gql(claim, {"p": project_id}, token=annotator))
    task_id = first["claimNextTask"]["id"]
    watching = await Subscriber.open(system, reviewer, {"t": task_id}, TASK_SUB)
    admin = await Subscriber.open(system, system.admin_token, {"t": task_id}, TASK_SUB)
    await asyncio.sleep(0.3)  # registered
    crown = "mutation($t: ID!, $r: ID!) { crownResponse(taskId: $t, responseId: $r) { id } }"
    responses = await system.gql(
        "query($t: ID!) { task(id: $t) { dataRow { prompts { responses { id } } } } }",
        {"t": task_id},
    )
    response_id = data_of(responses)["task"]["dataRow"]["prompts"][0]["responses"][0]["id"]
    data_of(await system.gql(crown, {"t": task_id, "r": response_id}, token=annotator))
    # Everything committed before the removal may still arrive (the claim's events too, if
    # the follower had not read them when the subscriptions began): read up to the crown.
    for sub in (watching, admin):
        while (await sub.next())["type"] != "ResponseCrowned":
            pass

    data_of(await system.gql(REMOVE, {"p": project_id, "u": reviewer_id}))
    data_of(await system.gql(crown, {"t": task_id, "r": response_id}, token=annotator))
    assert (await admin.next())["type"] == "ResponseCrowned"  # the task's event was delivered...
    assert await watching.nothing_within(0.5)  # ...but not to the removed reviewer
    for s in (watching, admin):
        await s.close()


async def test_a_replay_while_the_log_is_held_back_grants_nothing_from_history(
    system: Server,
) -> None:
    # Log readers read only below the oldest running transaction that has written, so one
    # left open holds the gateway's live follower back: the membership changes below commit,
    # and the follower has not reached them when the removed member subscribes. Whether a
    # replayed MemberAdded is history (grants nothing) must not depend on where it is.
    project_id = await new_project(system)
    user_id, token = await new_member(system, await new_project(system), "REVIEWER")
    async with system.runtime.pool.acquire() as held:
        transaction = held.transaction()
        await transaction.start()
        try:
            await held.fetchval("select pg_current_xact_id()")
            data_of(await system.gql(ADD, {"p": project_id, "u": user_id}))
            data_of(await system.gql(REMOVE, {"p": project_id, "u": user_id}))
            replay = await Subscriber.open(system, token, {"p": project_id, "after": 0})
        finally:
            await transaction.rollback()
    assert await replay.nothing_within(0.5)
    await replay.close()


ARCHIVE = "mutation($p: ID!) { archiveProject(projectId: $p) { id archived } }"
UNARCHIVE = "mutation($p: ID!) { unarchiveProject(projectId: $p) { id archived } }"
LISTED = "query($all: Boolean) { projects(includeArchived: $all) { id archived } }"


async def test_an_owner_archives_a_project_and_brings_it_back(system: Server) -> None:
    project_id = await new_project(system)
    dataset_id = await new_dataset(system)
    imported = await import_rows(system, dataset_id, [shopping_row(f"arc-{uuid.uuid4().hex[:8]}")])
    await add_rows(system, project_id, imported["dataRowIds"])
    _, manager = await new_member(system, project_id, "MANAGER")
    _, owner = await new_member(system, project_id, "OWNER")
    _, annotator = await new_member(system, project_id, "ANNOTATOR")

    async def listed(token: str, everything: bool | None) -> dict[str, bool]:
        body = await system.gql(LISTED, {"all": everything}, token=token)
        return {p["id"]: p["archived"] for p in data_of(body)["projects"]}

    refused = await system.gql(ARCHIVE, {"p": project_id}, token=manager)
    assert refused["errors"][0]["extensions"]["code"] == "FORBIDDEN"
    archived = data_of(await system.gql(ARCHIVE, {"p": project_id}, token=owner))
    assert archived["archiveProject"] == {"id": project_id, "archived": True}
    claim = await system.gql(
        "mutation($p: ID!) { claimNextTask(projectId: $p) { id } }",
        {"p": project_id},
        token=annotator,
    )
    assert claim["errors"][0]["extensions"]["code"] == "INVALID_INPUT"
    assert "archived" in claim["errors"][0]["message"]
    for token in (annotator, system.admin_token):
        assert project_id not in await listed(token, None)
        assert (await listed(token, True))[project_id] is True

    back = data_of(await system.gql(UNARCHIVE, {"p": project_id}))  # the org admin
    assert back["unarchiveProject"] == {"id": project_id, "archived": False}
    assert (await listed(annotator, False))[project_id] is False
    claimed = await system.gql(
        "mutation($p: ID!) { claimNextTask(projectId: $p) { id } }",
        {"p": project_id},
        token=annotator,
    )
    assert data_of(claimed)["claimNextTask"] is not None
