"""``preflog up`` killed outright while annotators work, then started again.

SIGKILL goes to the process and its gateway at once (as when the machine or the container
under them dies) while four annotators send mutations over HTTP and a manager watches the
project's live events over a WebSocket. The same ``preflog up`` is then started again on the
same database and NATS namespace. Afterwards:

- every acknowledged mutation is in the log and in the label as the annotator saw it; a
  mutation cut off in flight is in the log once or not at all;
- the label read model agrees with the log folded up to now (``task`` against ``taskAsOf``);
- review's intake moved every submitted label's task to review, once;
- the subscriber, resubscribing with its last seen position, gets every later event of the
  project once, in order, with no gap (the audit log is the reference);
- work carries on, and the export holds every approved label once.
"""

from __future__ import annotations

import asyncio
import json
import random
import uuid
from collections import Counter
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import asyncpg
import httpx
import pytest
import pytest_asyncio

from preflog_eventstore import create_database, drop_database, with_database
from preflog_testing.infra import Infra
from preflog_testing.rows import labelbox_conversation
from preflog_testing.system import start, start_again

from .running_system import Client, Subscription, System
from .test_whole_system import PROJECT_EVENTS, audit_events, eventually

pytestmark = pytest.mark.timeout(240)

ANNOTATORS = 4
ROWS = 120
KILL_AFTER_ACKED = 80  # acknowledged mutations before the kill
MODELS = ["model-a", "model-b", "model-c"]
ACTION_TYPES = {"ResponsesRanked", "ResponseCrowned", "QuestionAnswered"}
LABEL = """id status rankings { promptId ranking { responseId rank } }
  crowns { promptId responseId } answers { questionId value }"""
CLAIM = """mutation($p: ID!) { claimNextTask(projectId: $p) {
  id myLabel { id status } dataRow { prompts { id responses { id } } } } }"""
RANK = f"""mutation($t: ID!, $p: ID!, $r: [RankInput!]!) {{
  rankResponses(taskId: $t, promptId: $p, ranking: $r) {{ {LABEL} }} }}"""
CROWN = f"""mutation($t: ID!, $p: ID!, $r: ID!) {{
  crownResponse(taskId: $t, promptId: $p, responseId: $r) {{ {LABEL} }} }}"""
ANSWER = f"""mutation($t: ID!, $a: JSON!) {{
  answerQuestion(taskId: $t, questionId: "overall", answer: $a) {{ {LABEL} }} }}"""
SUBMIT = f"""mutation($t: ID!) {{ submitLabel(taskId: $t) {{ {LABEL} }} }}"""
TASK_LABELS = f"""query($t: ID!, $at: DateTime!) {{
  now: task(id: $t) {{ status labels {{ {LABEL} }} }}
  folded: taskAsOf(taskId: $t, at: $at) {{ status labels {{ {LABEL} }} }} }}"""


def conversation(i: int) -> dict[str, Any]:
    return labelbox_conversation(
        f"crash-{i}", f"Question {i}", [(m, f"Answer {j} to {i}") for j, m in enumerate(MODELS)]
    )


@dataclass
class Annotator:
    client: Client
    rnd: random.Random
    acked: dict[str, dict[str, Any]] = field(default_factory=dict)
    """label id -> the label as the last acknowledged mutation returned it"""
    actions: Counter[str] = field(default_factory=Counter)
    """label id -> acknowledged rank, crown and answer mutations"""
    cut_off: set[str] = field(default_factory=set)
    """labels with a mutation in flight when the system died"""
    tasks: dict[str, str] = field(default_factory=dict)  # label id -> task id

    async def mutate(self, label_id: str, query: str, variables: dict[str, Any]) -> None:
        """One mutation; on acknowledgement, what it returned is what the label must be."""
        try:
            data = await self.client.gql(query, variables)
        except httpx.TransportError:
            self.cut_off.add(label_id)
            raise
        (label,) = data.values()
        self.acked[label_id] = label

    async def label_task(self, task: dict[str, Any]) -> None:
        """Rank, crown, answer, then submit ``task`` (already claimed)."""
        tid, lid = task["id"], task["myLabel"]["id"]
        self.tasks[lid] = tid
        prompt = task["dataRow"]["prompts"][0]
        responses = [r["id"] for r in prompt["responses"]]
        self.rnd.shuffle(responses)
        ranking = [{"responseId": r, "rank": k + 1} for k, r in enumerate(responses)]
        await self.mutate(lid, RANK, {"t": tid, "p": prompt["id"], "r": ranking})
        self.actions[lid] += 1
        await self.mutate(lid, CROWN, {"t": tid, "p": prompt["id"], "r": responses[0]})
        self.actions[lid] += 1
        await self.mutate(lid, ANSWER, {"t": tid, "a": self.rnd.choice(["a", "b", "tie"])})
        self.actions[lid] += 1
        await self.mutate(lid, SUBMIT, {"t": tid})

    async def work(self, project_id: str, stop: asyncio.Event) -> None:
        """Claim and label tasks until ``stop`` or until the connection fails under it."""
        while not stop.is_set():
            try:
                task = (await self.client.gql(CLAIM, {"p": project_id}))["claimNextTask"]
            except httpx.TransportError:
                return
            if task is None:
                return
            try:
                await self.label_task(task)
            except httpx.TransportError:
                return

    def acked_count(self) -> int:
        return sum(self.actions.values()) + sum(
            1 for label in self.acked.values() if label["status"] != "DRAFT"
        )


@dataclass
class Crash:
    system: System
    project_id: str
    annotators: list[Annotator]
    sub: Subscription
    seen: list[dict[str, Any]]
    database: str
    admin_dsn: str


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def crash(
    infra: Infra, template_database: str, tmp_path_factory: pytest.TempPathFactory
) -> AsyncIterator[Crash]:
    """A project worked on by four annotators, watched by a subscriber, and killed
    mid-work; the system started again. The tests below read it in order (the last one
    carries the work on)."""
    name = f"preflog_crash_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(infra.admin_dsn, name, template=template_database)
    up = await start(dsn, infra.nats_url, tmp_path_factory.mktemp("crash"), prefix="crash")
    http = httpx.AsyncClient(base_url=up.url, timeout=30)
    try:
        system = System.of(up, http)
        project_id, annotators = await set_up(system)
        sub = await Subscription.open(
            system.ws_url, up.token, PROJECT_EVENTS, {"p": project_id, "after": 0}, "projectEvents"
        )
        seen: list[dict[str, Any]] = []
        stop = asyncio.Event()
        workers = [asyncio.create_task(a.work(project_id, stop)) for a in annotators]
        watcher = asyncio.create_task(watch(sub, seen))
        await eventually(
            _when(lambda: sum(a.acked_count() for a in annotators) >= KILL_AFTER_ACKED),
            "the annotators' first mutations",
            60,
        )
        await up.kill()
        await asyncio.wait_for(asyncio.gather(*workers), 30)
        watcher.cancel()
        await asyncio.gather(watcher, return_exceptions=True)
        await sub.close()
        up = await start_again(up)
        system.up = up
        yield Crash(system, project_id, annotators, sub, seen, name, infra.admin_dsn)
        print("\n--- preflog up log (tail) ---\n" + system.log_tail())
    finally:
        await http.aclose()
        await up.stop()
        await drop_database(infra.admin_dsn, name)


def _when(condition: Any) -> Any:
    async def check() -> bool | None:
        return True if condition() else None

    return check


async def watch(sub: Subscription, seen: list[dict[str, Any]]) -> None:
    """Everything the subscription delivers, until its connection drops."""
    while True:
        try:
            seen.append(await sub.next(timeout=60))
        except Exception:
            return


async def set_up(system: System) -> tuple[str, list[Annotator]]:
    admin = system.admin
    dataset = (await admin.gql('mutation { createDataset(name: "crash") { id } }'))[
        "createDataset"
    ]["id"]
    rows = (
        await admin.gql(
            "mutation($d: ID!, $r: [JSON!]!) { importDataRows(datasetId: $d, rows: $r)"
            " { accepted dataRowIds } }",
            {"d": dataset, "r": [conversation(i) for i in range(ROWS)]},
        )
    )["importDataRows"]
    assert rows["accepted"] == ROWS
    project_id = (
        await admin.gql(
            "mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }",
            {
                "i": {
                    "name": "crash",
                    "ontology": {
                        "questions": [
                            {
                                "id": "overall",
                                "title": "Overall",
                                "kind": "RADIO",
                                "options": [{"value": v} for v in ("a", "b", "tie")],
                            }
                        ]
                    },
                    "settings": {"reviewRequired": True},
                }
            },
        )
    )["createProject"]["id"]
    annotators = []
    for i in range(ANNOTATORS):
        user = (
            await admin.gql(
                'mutation($e: String!) { createUser(input: {email: $e, name: "A"}) { id } }',
                {"e": f"crash-{i}-{uuid.uuid4().hex[:6]}@example.com"},
            )
        )["createUser"]["id"]
        token = (
            await admin.gql(
                'mutation($u: ID!) { createApiToken(userId: $u, name: "t") { token } }',
                {"u": user},
            )
        )["createApiToken"]["token"]
        await admin.gql(
            "mutation($p: ID!, $u: ID!) {"
            " addProjectMember(projectId: $p, userId: $u, role: ANNOTATOR) { role } }",
            {"p": project_id, "u": user},
        )
        annotators.append(Annotator(system.client(token, user, f"ann{i}"), random.Random(i)))

    async def rows_added() -> bool | None:
        body = await admin.raw(
            "mutation($p: ID!, $ids: [ID!]) {"
            " addDataRowsToProject(projectId: $p, dataRowIds: $ids) { size } }",
            {"p": project_id, "ids": rows["dataRowIds"]},
        )
        return None if body.get("errors") else True  # refused until labeling knows the rows

    await eventually(rows_added, "labeling to learn the rows", 60)
    return project_id, annotators


async def test_every_acknowledged_mutation_survived_and_none_landed_twice(crash: Crash) -> None:
    admin = crash.system.admin
    events = await audit_events(
        admin, {"projectId": crash.project_id, "types": sorted(ACTION_TYPES)}
    )
    in_log = Counter(e["labelId"] for e in events)
    for a in crash.annotators:
        for label_id, acked in a.actions.items():
            extra = in_log[label_id] - acked
            assert extra in ((0, 1) if label_id in a.cut_off else (0,)), (
                label_id,
                acked,
                in_log[label_id],
            )
        for label_id, expected in a.acked.items():
            now = (
                await a.client.gql(
                    f"query($l: ID!) {{ label(id: $l) {{ {LABEL} }} }}", {"l": label_id}
                )
            )["label"]
            if label_id not in a.cut_off:
                assert now == expected, label_id


async def test_the_label_read_model_agrees_with_the_log(crash: Crash) -> None:
    admin = crash.system.admin
    at = datetime.now(UTC).isoformat()
    tasks = {t for a in crash.annotators for t in a.tasks.values()}
    assert tasks
    for task_id in sorted(tasks):
        data = await admin.gql(TASK_LABELS, {"t": task_id, "at": at})
        by_id = {
            side: sorted(data[side]["labels"], key=lambda x: x["id"]) for side in ("now", "folded")
        }
        assert by_id["now"] == by_id["folded"], task_id


async def test_work_carries_on_at_once(crash: Crash) -> None:
    # Straight after the restart, before JetStream hands the dead process's unacknowledged
    # events to the new one: the services meet new events before older ones.
    for a in crash.annotators:
        # The claim hands back the task still leased to the annotator, or the next one.
        task = (await a.client.gql(CLAIM, {"p": crash.project_id}))["claimNextTask"]
        assert task is not None
        if task["myLabel"]["status"] == "DRAFT":
            await a.label_task(task)


async def review_took_in_once(
    admin: Client, project_id: str, annotators: list[Annotator], seconds: float = 30
) -> set[str]:
    """Waits until review has moved the task of every label the annotators were told was
    submitted to IN_REVIEW, and checks it did so once per task; those tasks."""
    submitted = {
        a.tasks[lid]
        for a in annotators
        for lid, label in a.acked.items()
        if label["status"] == "SUBMITTED"
    }
    assert submitted

    async def all_in_review() -> list[dict[str, Any]] | None:
        changes = await audit_events(
            admin, {"projectId": project_id, "types": ["TaskStatusChanged"]}
        )
        moved = {e["taskId"] for e in changes if e["data"]["to_status"] == "IN_REVIEW"}
        return changes if submitted <= moved else None

    changes = await eventually(all_in_review, "review to take in every submission", seconds)
    per_task = Counter(e["taskId"] for e in changes if e["data"]["to_status"] == "IN_REVIEW")
    assert all(n == 1 for n in per_task.values()), per_task
    return submitted


async def test_review_took_in_each_submission_once(crash: Crash) -> None:
    admin = crash.system.admin
    for task_id in await review_took_in_once(admin, crash.project_id, crash.annotators):
        status = (await admin.gql("query($t: ID!) { task(id: $t) { status } }", {"t": task_id}))[
            "task"
        ]
        assert status["status"] == "IN_REVIEW", task_id


async def test_the_subscriber_resumes_from_its_last_position_with_no_gap(crash: Crash) -> None:
    # Delivery is in commit order, which is not always position order (a transaction that
    # took a position commits after one that took a later one), so this compares sets.
    assert crash.seen, "the subscriber saw nothing before the kill"
    before = [e["position"] for e in crash.seen]
    assert len(set(before)) == len(before), "an event delivered twice before the kill"
    admin = crash.system.admin
    everything = {e["position"] for e in await audit_events(admin, {"projectId": crash.project_id})}
    assert set(before) <= everything
    sub = await Subscription.open(
        crash.system.ws_url,
        crash.system.admin_token,
        PROJECT_EVENTS,
        {"p": crash.project_id, "after": before[-1]},
        "projectEvents",
    )
    try:
        missing = len(everything) - len(before)
        got = await sub.drain_until(lambda received: len(received) >= missing, 30)
        assert await sub.silent_for(0.5)
    finally:
        await sub.close()
    after = [e["position"] for e in got]
    assert len(set(after)) == len(after), "an event delivered twice after resuming"
    assert not set(after) & set(before), "an event delivered again after resuming"
    assert set(before) | set(after) == everything


async def test_the_export_holds_each_approved_label_once(crash: Crash) -> None:
    admin = crash.system.admin
    submitted = sorted(
        lid
        for a in crash.annotators
        for lid, label in a.acked.items()
        if label["status"] == "SUBMITTED"
    )

    async def approve(label_id: str) -> bool | None:
        body = await admin.raw(
            "mutation($l: ID!) { approveLabel(labelId: $l) { id status } }", {"l": label_id}
        )
        return None if body.get("errors") else True  # until review has taken the label in

    for label_id in submitted:
        await eventually(lambda label_id=label_id: approve(label_id), f"approving {label_id}", 30)

    async def exported() -> list[str] | None:
        r = await crash.system.http.get(
            f"/v1/projects/{crash.project_id}/export",
            params={"format": "native", "status": "APPROVED"},
            headers=admin.headers,
        )
        assert r.status_code == 200, r.text
        records = [json.loads(line) for line in r.text.splitlines() if line]
        ids = [label["label_id"] for rec in records if "labels" in rec for label in rec["labels"]]
        return ids if len(ids) >= len(submitted) else None  # export learns approvals by events

    ids = await eventually(exported, "the export to hold every approved label", 30)
    assert sorted(ids) == submitted


async def test_the_system_rides_out_postgres_dropping_every_connection(crash: Crash) -> None:
    """Every connection of the database ended by the server at once (a failover, a network
    cut): with nothing restarted, the next mutations land, the relay publishes them to a
    live subscriber, review takes the submission in, and the label read model catches up."""
    admin = crash.system.admin
    sub = await Subscription.open(
        crash.system.ws_url,
        crash.system.admin_token,
        PROJECT_EVENTS,
        {"p": crash.project_id},
        "projectEvents",
    )
    try:
        await asyncio.sleep(0.2)  # the subscription is registered
        conn = await asyncpg.connect(crash.admin_dsn)
        try:
            ended = await conn.fetchval(
                "select count(*) from (select pg_terminate_backend(pid) from pg_stat_activity"
                " where datname = $1 and pid <> pg_backend_pid()) t",
                crash.database,
            )
        finally:
            await conn.close()
        assert ended > 0
        a = crash.annotators[0]

        async def claimed() -> dict[str, Any] | None:
            body = await a.client.raw(CLAIM, {"p": crash.project_id})
            # A call that met a dead connection is refused as retryable, never as a bug.
            codes = {e["extensions"]["code"] for e in body.get("errors") or []}
            assert codes <= {"UNAVAILABLE", "CONFLICT"}, body
            return None if codes else body["data"]["claimNextTask"]

        task = await eventually(claimed, "a claim after the connections were cut", 30)
        await a.label_task(task)
        label_id = task["myLabel"]["id"]
        types = [
            e["type"]
            for e in await sub.drain_until(
                lambda got: any(
                    e["type"] == "LabelSubmitted" and e["labelId"] == label_id for e in got
                ),
                30,
            )
        ]
        assert {"ResponsesRanked", "ResponseCrowned", "QuestionAnswered", "LabelSubmitted"} <= set(
            types
        )

        async def in_review() -> bool | None:
            data = await admin.gql("query($t: ID!) { task(id: $t) { status } }", {"t": task["id"]})
            return True if data["task"]["status"] == "IN_REVIEW" else None

        await eventually(in_review, "review to take the submission in", 30)
        at = datetime.now(UTC).isoformat()
        data = await admin.gql(TASK_LABELS, {"t": task["id"], "at": at})
        assert data["now"]["labels"] == data["folded"]["labels"]
        # Reads fold the log when the read model is behind, so ask its table directly: the
        # label projection kept running (it once ended for good on the dead connection).
        conn = await asyncpg.connect(with_database(crash.admin_dsn, crash.database))
        try:

            async def projected() -> bool | None:
                caught_up = await conn.fetchval(
                    "select l.version = (select max(stream_position) from eventlog.events"
                    " where stream_name = 'label-' || l.label_id)"
                    " from labeling.labels l where l.label_id = $1",
                    label_id,
                )
                return True if caught_up else None

            await eventually(projected, "the label read model to catch up", 30)
        finally:
            await conn.close()
        # No background loop of the process ended on an exception.
        assert "exception was never retrieved" not in crash.system.up.log()
    finally:
        await sub.close()
