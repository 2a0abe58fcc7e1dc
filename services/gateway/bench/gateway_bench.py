"""The gateway under load, over HTTP, against ``preflog up`` in a subprocess.

    uv run python services/gateway/bench/gateway_bench.py [--seconds 20] [--clients 32]

Starts ``preflog up`` on a database and NATS namespace of its own (the local or
PREFLOG_TEST_* servers), with a known bootstrap token, then through GraphQL over HTTP:
imports rows, makes a project, 32 annotators with their own tokens, and measures

- mutations: 32 annotators, each on its own keep-alive connection, claim a task and send a
  realistic mix (rank 25%, crown 20%, answer 40% over three question kinds, comment 15%),
  8-12 actions a task, then submit and claim the next: mutations/s (limit 1,500) and p99
  (limit 100 ms) of the mix;
- a task query (data row, prompts, responses, the viewer's label) at an offered 500
  queries/s, once the system has worked off the mutations (``after_mutations_settled_s``:
  how long its consumers and projections took to catch up), open loop (sent on schedule
  whatever the answers do; latency from the scheduled time, so a stall is not hidden): p99
  (limit 20 ms);
- the same mutation mix, same concurrency, straight to the labeling service over NATS with
  ``RpcClient`` in the same run, so the gateway's cost is a ratio.

One JSON object per line; nothing is asserted. The HTTP client is a few lines over asyncio
streams (HTTP/1.1 keep-alive) so that the load generator, which shares the machine's cores
with the system, spends as little CPU as possible per request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import random
import shutil
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx

from preflog_contracts.errors import Conflict, PreflogError
from preflog_contracts.events.labels import Target
from preflog_contracts.identity import Identity
from preflog_contracts.rpc import labeling as api
from preflog_eventstore import create_database, drop_database
from preflog_messaging import CallContext, delete_namespace_streams
from preflog_messaging.runtime import Runtime, open_runtime, run
from preflog_settings import load_settings
from preflog_testing import system
from preflog_testing.idle import (
    common_role,
    cpu_in_window,
    cpu_per_operation,
    cpu_seconds,
    settle,
)
from preflog_testing.infra import choose_infra
from preflog_testing.rows import labelbox_conversation

WARMUP = 3.0
# Tasks loaded per second of a mutation phase, for both phases: one task takes 8-12 mutations,
# so this covers 4,500 mutations/s in all.
ROW_SUPPLY_PER_SECOND = 450
RESPONSES = ["response-a", "response-b", "response-c"]
MODELS = ["model-a", "model-b", "model-c"]
QUESTIONS = [
    {
        "id": "overall",
        "title": "Overall",
        "kind": "RADIO",
        "options": [{"value": v} for v in ("a", "b", "c", "tie")],
    },
    {"id": "helpful", "title": "Helpful", "kind": "SCALE", "scope": "RESPONSE", "min": 1, "max": 5},
    {"id": "safe", "title": "Safe", "kind": "YES_NO"},
]
LABEL_FIELDS = """id status canUndo canRedo rankings { promptId ranking { responseId rank } }
  crowns { promptId responseId } answers { questionId target { responseId } value }"""
RANK = f"""mutation($t: ID!, $r: [RankInput!]!) {{ rankResponses(taskId: $t, ranking: $r)
  {{ {LABEL_FIELDS} }} }}"""
CROWN = f"""mutation($t: ID!, $r: ID!) {{ crownResponse(taskId: $t, responseId: $r)
  {{ {LABEL_FIELDS} }} }}"""
ANSWER = f"""mutation($t: ID!, $q: ID!, $a: JSON!, $target: TargetInput) {{
  answerQuestion(taskId: $t, questionId: $q, answer: $a, target: $target) {{ {LABEL_FIELDS} }} }}"""
COMMENT = """mutation($t: ID!, $b: String!, $target: TargetInput) {
  addComment(taskId: $t, body: $b, target: $target) { id body createdAt } }"""
CLAIM = "mutation($p: ID!) { claimNextTask(projectId: $p) { id } }"
SUBMIT = "mutation($t: ID!) { submitLabel(taskId: $t) { id status } }"
TASK_QUERY = """query($t: ID!) { task(id: $t) { id status
  dataRow { id globalKey messages { id role authorName content }
    prompts { id afterMessageId responses { id title modelConfigName content edited } } }
  myLabel { id status canUndo canRedo rankings { promptId ranking { responseId rank } }
    crowns { promptId responseId } answers { questionId target { responseId } value } } } }"""


def pct(values: list[float], q: float) -> float:
    s = sorted(values)
    return s[min(len(s) - 1, int(q * len(s)))] if s else float("nan")


def ms(seconds: float) -> float:
    return round(seconds * 1000, 2)


def emit(
    name: str, value: float, unit: str, limit: float, higher_is_better: bool, **context: Any
) -> None:
    """One result line; ``ratio`` >= 1 means the limit is met."""
    ratio = (value / limit if higher_is_better else limit / value) if value else 0.0
    line = {"bench": name, "value": round(value, 2), "unit": unit, "limit": limit}
    line["ratio"] = round(ratio, 3)
    print(json.dumps({**line, **context}), flush=True)


def conversation(i: int) -> dict[str, Any]:
    """A Labelbox v1 conversation: a question and three model outputs."""
    return labelbox_conversation(
        f"bench-{i}",
        f"Question {i}: which vacuum for a small flat?",
        [
            (MODELS[j], f"Answer {j} to {i}: " + "a *reasonable* suggestion. " * 12)
            for j in range(3)
        ],
    )


# --- a lean HTTP/1.1 keep-alive client ----------------------------------------------------


class Connection:
    """One keep-alive HTTP/1.1 connection; one request at a time."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader, self.writer = reader, writer

    @classmethod
    async def open(cls, port: int) -> Connection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def post(self, path: str, body: bytes, token: str) -> tuple[int, bytes]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: Bearer {token}\r\n"
            f"Content-Type: application/json\r\nUser-Agent: gateway-bench\r\n"
            f"Content-Length: {len(body)}\r\n\r\n"
        )
        self.writer.write(head.encode() + body)
        raw = await self.reader.readuntil(b"\r\n\r\n")
        lines = raw.decode("latin-1").split("\r\n")
        status = int(lines[0].split(" ", 2)[1])
        headers = {k.lower(): v.strip() for k, _, v in (h.partition(":") for h in lines[1:] if h)}
        if "content-length" in headers:
            return status, await self.reader.readexactly(int(headers["content-length"]))
        chunks = []  # Transfer-Encoding: chunked
        while size := int((await self.reader.readuntil(b"\r\n")).strip(), 16):
            chunks.append(await self.reader.readexactly(size))
            await self.reader.readexactly(2)
        await self.reader.readuntil(b"\r\n")
        return status, b"".join(chunks)

    def close(self) -> None:
        self.writer.close()


def graphql_body(query: str, variables: dict[str, Any]) -> bytes:
    return json.dumps({"query": query, "variables": variables}).encode()


def graphql_data(status: int, raw: bytes) -> tuple[dict[str, Any] | None, str | None]:
    """(data, None) or (None, error code)."""
    if status != 200:
        return None, f"HTTP {status}"
    body = json.loads(raw)
    if body.get("errors"):
        return None, str(body["errors"][0].get("extensions", {}).get("code", "?"))
    return body["data"], None


# --- the system ----------------------------------------------------------------------------


async def start_preflog(log_dir: Path) -> tuple[system.Up, Callable[[], Awaitable[None]]]:
    """``preflog up`` on a new database and namespace; (the running system, stop)."""
    infra = choose_infra()
    db = f"preflog_bench_gw_{uuid.uuid4().hex[:8]}"
    dsn = await create_database(infra.admin_dsn, db)

    async def stop() -> None:
        await up.stop()
        await drop_database(infra.admin_dsn, db)
        infra.close()

    try:
        # The bench measures capacity, not the per-token limit (6,000/min by default).
        up = await system.start(
            dsn,
            infra.nats_url,
            log_dir,
            prefix="benchgw",
            extra_env={"PREFLOG_RATE_LIMIT_PER_MINUTE": "100000000"},
        )
    except BaseException:
        await drop_database(infra.admin_dsn, db)
        infra.close()
        raise
    return up, stop


@dataclass
class Setup:
    org_id: str
    project_id: str
    annotators: list[tuple[str, str]]  # (user id, token)
    rows: int


async def set_up(http: httpx.AsyncClient, token: str, clients: int, rows: int) -> Setup:
    """Through GraphQL: a dataset of ``rows`` conversations, a project, ``clients`` annotators."""
    auth = {"authorization": f"Bearer {token}"}

    async def gql(query: str, variables: dict[str, Any] | None = None) -> dict[str, Any]:
        r = await http.post(
            "/graphql", json={"query": query, "variables": variables or {}}, headers=auth
        )
        body = r.json()
        if body.get("errors"):
            raise RuntimeError(json.dumps(body["errors"])[:1000])
        data: dict[str, Any] = body["data"]
        return data

    org_id = (await gql("{ organization { id } }"))["organization"]["id"]
    dataset = (await gql('mutation { createDataset(name: "bench") { id } }'))["createDataset"]["id"]
    row_ids: list[str] = []
    for start in range(0, rows, 500):
        chunk = [conversation(i) for i in range(start, min(rows, start + 500))]
        result = (
            await gql(
                """mutation($d: ID!, $rows: [JSON!]!) { importDataRows(datasetId: $d, rows: $rows)
                   { accepted dataRowIds } }""",
                {"d": dataset, "rows": chunk},
            )
        )["importDataRows"]
        row_ids += result["dataRowIds"]
    project = (
        await gql(
            """mutation($i: CreateProjectInput!) { createProject(input: $i) { id } }""",
            {
                "i": {
                    "name": "bench",
                    "ontology": {"format": "NATIVE", "questions": QUESTIONS},
                    "settings": {"reviewRequired": False},
                }
            },
        )
    )["createProject"]["id"]
    annotators = []
    for i in range(clients):
        user = (
            await gql(
                'mutation($e: String!) { createUser(input: {email: $e, name: "A"}) { id } }',
                {"e": f"annotator-{i}-{uuid.uuid4().hex[:6]}@bench.example"},
            )
        )["createUser"]["id"]
        secret = (
            await gql(
                'mutation($u: ID!) { createApiToken(userId: $u, name: "bench") { token } }',
                {"u": user},
            )
        )["createApiToken"]["token"]
        await gql(
            "mutation($p: ID!, $u: ID!) {"
            " addProjectMember(projectId: $p, userId: $u, role: ANNOTATOR) { role } }",
            {"p": project, "u": user},
        )
        annotators.append((user, secret))
    # Labeling learns the rows from ingest's events; until it knows them all this is refused.
    deadline = time.monotonic() + 120
    for start in range(0, len(row_ids), 500):
        while True:
            r = await http.post(
                "/graphql",
                json={
                    "query": "mutation($p: ID!, $ids: [ID!]) {"
                    " addDataRowsToProject(projectId: $p, dataRowIds: $ids) { size } }",
                    "variables": {"p": project, "ids": row_ids[start : start + 500]},
                },
                headers=auth,
            )
            if not r.json().get("errors"):
                break
            if time.monotonic() > deadline:
                raise RuntimeError(f"rows never reached labeling: {r.text[:500]}")
            await asyncio.sleep(0.2)
    return Setup(org_id, project, annotators, len(row_ids))


# --- the mutation mix ----------------------------------------------------------------------


def next_action(rnd: random.Random) -> tuple[str, dict[str, Any]]:
    """(kind, parameters) of one action of the mix, independent of the transport."""
    pick = rnd.random()
    if pick < 0.25:
        order = RESPONSES[:]
        rnd.shuffle(order)
        return "rank", {"ranking": [(r, k + 1) for k, r in enumerate(order)]}
    if pick < 0.45:
        return "crown", {"response": rnd.choice(RESPONSES)}
    if pick < 0.65:
        return "answer", {
            "question": "helpful",
            "answer": rnd.randint(1, 5),
            "response": rnd.choice(RESPONSES),
        }
    if pick < 0.75:
        return "answer", {"question": "overall", "answer": rnd.choice(["a", "b", "c", "tie"])}
    if pick < 0.85:
        return "answer", {"question": "safe", "answer": rnd.random() < 0.9}
    return "comment", {"body": f"note {rnd.randint(0, 10**6)}", "response": rnd.choice(RESPONSES)}


@dataclass
class Tally:
    latencies: list[float] = field(default_factory=list)
    errors: dict[str, int] = field(default_factory=dict)
    examples: dict[str, str] = field(default_factory=dict)  # a message per error code
    tasks: int = 0
    ran_out: int = 0  # annotators that found nothing left to claim before the end
    cpu: dict[str, float] = field(default_factory=dict)  # CPU seconds by part, measured window

    def error(self, code: str) -> None:
        self.errors[code] = self.errors.get(code, 0) + 1


class Annotator:
    """One simulated annotator: claim, 8-12 actions of the mix, submit, again."""

    def __init__(self, seed: str) -> None:
        self.rnd = random.Random(seed)
        self.task: str | None = None

    async def run(
        self,
        claim: Callable[[], Awaitable[str | None]],
        act: Callable[[str, dict[str, Any], str], Awaitable[str | None]],
        submit: Callable[[str], Awaitable[str | None]],
        measure_from: float,
        until: float,
        tally: Tally,
        hold_last: bool = False,
    ) -> None:
        while time.perf_counter() < until:
            self.task = await claim()
            if self.task is None:
                tally.ran_out += 1
                return
            tally.tasks += 1
            for _ in range(self.rnd.randint(8, 12)):
                kind, params = next_action(self.rnd)
                started = time.perf_counter()
                error = await act(kind, params, self.task)
                done = time.perf_counter()
                if error is not None:
                    tally.error(error)
                elif measure_from <= started and done <= until:
                    tally.latencies.append(done - started)
                if done > until:
                    break
            if hold_last and time.perf_counter() >= until:
                return  # keep the last task claimed (the query phase reads it)
            await submit(self.task)


async def gateway_phase(
    running: system.Up, setup: Setup, warmup: float, seconds: float
) -> tuple[Tally, list[Annotator], float]:
    tally = Tally()
    sims = [Annotator(f"gw-{user}") for user, _ in setup.annotators]
    connections = [await Connection.open(running.port) for _ in setup.annotators]

    def bound(i: int) -> tuple[Any, Any, Any]:
        conn, token = connections[i], setup.annotators[i][1]

        async def call(query: str, variables: dict[str, Any]) -> tuple[Any, str | None]:
            status, raw = await conn.post("/graphql", graphql_body(query, variables), token)
            return graphql_data(status, raw)

        async def claim() -> str | None:
            data, error = await call(CLAIM, {"p": setup.project_id})
            if error is not None:
                tally.error(f"claim {error}")
                return None
            task = data["claimNextTask"] if data else None
            return None if task is None else str(task["id"])

        async def act(kind: str, p: dict[str, Any], task: str) -> str | None:
            if kind == "rank":
                ranking = [{"responseId": r, "rank": k} for r, k in p["ranking"]]
                _, error = await call(RANK, {"t": task, "r": ranking})
            elif kind == "crown":
                _, error = await call(CROWN, {"t": task, "r": p["response"]})
            elif kind == "answer":
                target = {"responseId": p["response"]} if "response" in p else None
                variables = {"t": task, "q": p["question"], "a": p["answer"], "target": target}
                _, error = await call(ANSWER, variables)
            else:
                variables = {"t": task, "b": p["body"], "target": {"responseId": p["response"]}}
                _, error = await call(COMMENT, variables)
            return error

        async def submit(task: str) -> str | None:
            _, error = await call(SUBMIT, {"t": task})
            if error is not None:
                tally.error(f"submit {error}")
            return error

        return claim, act, submit

    def role(pid: int, command: str) -> str:
        if pid == running.process.pid:
            return "services"  # preflog up runs the four services in its own process
        return "gateway" if "serve gateway" in command else common_role(pid, command)

    t0 = time.perf_counter()
    cpu0 = cpu_seconds(running.process.pid)
    window = asyncio.create_task(cpu_in_window(t0 + warmup, t0 + warmup + seconds, role))
    await asyncio.gather(
        *(
            sims[i].run(*bound(i), t0 + warmup, t0 + warmup + seconds, tally, hold_last=True)
            for i in range(len(sims))
        )
    )
    server_cpu = cpu_seconds(running.process.pid) - cpu0
    for c in connections:
        c.close()
    tally.cpu = await window
    return tally, sims, server_cpu / (time.perf_counter() - t0)


async def direct_phase(
    rt: Runtime, setup: Setup, warmup: float, seconds: float
) -> tuple[Tally, float, int]:
    """The same mix straight to labeling over NATS, as the gateway would call it."""
    tally = Tally()
    sims = [Annotator(f"direct-{user}") for user, _ in setup.annotators]

    def bound(user: str) -> tuple[Any, Any, Any]:
        ctx = CallContext(
            identity=Identity(user_id=user, org_id=setup.org_id), user_agent="gateway-bench"
        )

        async def call(op: str, body: Any, rtype: Any) -> tuple[Any, str | None]:
            try:
                reply = await rt.rpc.call(
                    "labeling", op, body, ctx=ctx, response_type=rtype, affinity=user
                )
                return reply, None
            except Conflict:
                return None, "CONFLICT"
            except PreflogError as exc:
                tally.examples.setdefault(exc.code.value, exc.message)
                return None, exc.code.value

        async def claim() -> str | None:
            task, error = await call(
                "claim_next_task", api.ProjectRef(project_id=setup.project_id), api.TaskView | None
            )
            if error is not None:
                tally.error(f"claim {error}")
            return None if task is None else str(task.id)

        async def act(kind: str, p: dict[str, Any], task: str) -> str | None:
            if kind == "rank":
                body: Any = api.RankResponsesRequest(
                    task_id=task,
                    ranking=[api.RankInput(response_id=r, rank=k) for r, k in p["ranking"]],
                )
                _, error = await call("rank_responses", body, api.LabelView)
            elif kind == "crown":
                body = api.CrownResponseRequest(task_id=task, response_id=p["response"])
                _, error = await call("crown_response", body, api.LabelView)
            elif kind == "answer":
                target = Target(response_id=p["response"]) if "response" in p else None
                body = api.AnswerQuestionRequest(
                    task_id=task, question_id=p["question"], answer=p["answer"], target=target
                )
                _, error = await call("answer_question", body, api.LabelView)
            else:
                body = api.AddCommentRequest(
                    task_id=task, body=p["body"], target=Target(response_id=p["response"])
                )
                _, error = await call("add_comment", body, api.CommentView)
            return error

        async def submit(task: str) -> str | None:
            _, error = await call("submit_label", api.TaskRef(task_id=task), api.LabelView)
            if error is not None:
                tally.error(f"submit {error}")
            return error

        return claim, act, submit

    t0 = time.perf_counter()
    await asyncio.gather(
        *(
            sims[i].run(*bound(user), t0 + warmup, t0 + warmup + seconds, tally)
            for i, (user, _) in enumerate(setup.annotators)
        )
    )
    return tally, time.perf_counter() - t0, sum(1 for s in sims if s.task is None)


# --- the task query, open loop -------------------------------------------------------------


async def query_phase(
    running: system.Up, setup: Setup, held: list[Annotator], rate: float, seconds: float
) -> tuple[list[float], dict[str, int], int, float]:
    """``rate`` task queries a second for ``seconds``, each by an annotator on its claimed
    task, sent on schedule; latency from the scheduled send time."""
    tasks = [
        (setup.annotators[i][1], sim.task) for i, sim in enumerate(held) if sim.task is not None
    ]
    idle: list[Connection] = [await Connection.open(running.port) for _ in range(48)]
    latencies: list[float] = []
    errors: dict[str, int] = {}
    rnd = random.Random(7)
    in_flight: set[asyncio.Task[None]] = set()

    async def one(scheduled: float, token: str, task: str) -> None:
        body = graphql_body(TASK_QUERY, {"t": task})
        while True:
            reused = bool(idle)
            conn = idle.pop() if reused else await Connection.open(running.port)
            try:
                status, raw = await conn.post("/graphql", body, token)
                break
            except (OSError, asyncio.IncompleteReadError) as exc:
                conn.close()
                if reused:
                    # The server closes keep-alive connections idle for 5 s (a backlog leaves
                    # some idle that long): like any HTTP client, send again on another one.
                    continue
                errors[type(exc).__name__] = errors.get(type(exc).__name__, 0) + 1
                return
        done = time.perf_counter()
        idle.append(conn)
        data, error = graphql_data(status, raw)
        if error is not None or not data or not data["task"] or not data["task"]["dataRow"]:
            errors[error or "empty"] = errors.get(error or "empty", 0) + 1
            return
        latencies.append(done - scheduled)

    interval = 1.0 / rate
    start = time.perf_counter() + 0.05
    n = int(rate * seconds)
    for k in range(n):
        scheduled = start + k * interval
        delay = scheduled - time.perf_counter()
        if delay > 0:
            await asyncio.sleep(delay)
        token, task = tasks[rnd.randrange(len(tasks))]
        job = asyncio.create_task(one(scheduled, token, task))
        in_flight.add(job)
        job.add_done_callback(in_flight.discard)
    sent_over = time.perf_counter() - start
    if in_flight:
        await asyncio.wait(in_flight, timeout=30)
    for c in idle:
        c.close()
    return latencies, errors, n, n / sent_over


async def query_capacity(
    running: system.Up, setup: Setup, held: list[Annotator], clients: int, seconds: float
) -> tuple[float, list[float]]:
    """Closed loop: ``clients`` each sending the task query as soon as the last one answers;
    the rate the system sustains (for context beside the open-loop figure)."""
    tasks = [
        (setup.annotators[i][1], sim.task) for i, sim in enumerate(held) if sim.task is not None
    ]
    latencies: list[float] = []
    until = time.perf_counter() + seconds

    async def client(k: int) -> None:
        conn = await Connection.open(running.port)
        token, task = tasks[k % len(tasks)]
        body = graphql_body(TASK_QUERY, {"t": task})
        while time.perf_counter() < until:
            started = time.perf_counter()
            status, raw = await conn.post("/graphql", body, token)
            if graphql_data(status, raw)[1] is None:
                latencies.append(time.perf_counter() - started)
        conn.close()

    t0 = time.perf_counter()
    await asyncio.gather(*(client(k) for k in range(clients)))
    return len(latencies) / (time.perf_counter() - t0), latencies


# --- main ----------------------------------------------------------------------------------


async def main(seconds: float, clients: int, query_seconds: float, rows: int | None) -> None:
    # Enough tasks for both mutation phases: an annotator with nothing left to claim stops, and
    # the phase's mutations/s would count time nobody was working (the direct phase ran out of
    # 4,000 rows about 13 s into its 20).
    rows = rows or int((WARMUP + seconds) * ROW_SUPPLY_PER_SECOND)
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"gateway-bench-{os.getpid()}"
    running, stop = await start_preflog(log_dir)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=60) as http:
            t = time.perf_counter()
            setup = await set_up(http, running.token, clients, rows)
            setup_seconds = time.perf_counter() - t
        # The consumers and projections learn the imported rows and new tasks after the setup's
        # calls return: let them finish, or the gateway phase shares the machine with that
        # work and the direct phase (which runs after a settle) does not.
        setup_settled = await settle(running.process.pid)
        warmup = WARMUP
        gw, held, server_cores = await gateway_phase(running, setup, warmup, seconds)
        # Let the consumers and projections work off the mutations' events first.
        caught_up = await settle(running.process.pid)
        q_lat, q_errors, q_sent, q_offered = await query_phase(
            running, setup, held, 500, query_seconds
        )
        await settle(running.process.pid)
        capacity, cap_lat = await query_capacity(running, setup, held, 8, 5.0)
        await settle(running.process.pid)
        settings = load_settings(running.env)
        rt = await open_runtime(settings)
        try:
            direct, _, _ = await direct_phase(rt, setup, warmup, seconds)
        finally:
            await delete_namespace_streams(rt.js, settings.namespace)
            await rt.close()
    finally:
        await stop()
        with contextlib.suppress(OSError):
            shutil.rmtree(log_dir)

    gw_rate, direct_rate = len(gw.latencies) / seconds, len(direct.latencies) / seconds
    context = {
        "clients": clients,
        "seconds": seconds,
        "cores": os.cpu_count(),
        "mix": "rank 25% / crown 20% / answer 40% (scale, radio, yes-no) / comment 15%",
        "system": "preflog up (every service in one process, the gateway in a child process)",
    }
    emit(
        "gateway_mutations_throughput",
        gw_rate,
        "mutations/s",
        1500,
        True,
        p50_ms=ms(pct(gw.latencies, 0.5)),
        p99_ms=ms(pct(gw.latencies, 0.99)),
        mutations=len(gw.latencies),
        tasks=gw.tasks,
        ran_out_of_tasks=gw.ran_out,
        errors=gw.errors,
        direct_per_s=round(direct_rate, 1),
        gateway_share_of_direct=round(gw_rate / direct_rate, 3) if direct_rate else None,
        server_cpu_cores=round(server_cores, 2),
        **context,
    )
    # Where the machine's CPU went per mutation, and so how many of these cores 1,500/s takes.
    per_mutation, budget, figures = cpu_per_operation(gw.cpu, len(gw.latencies), seconds, 1500)
    emit(
        "gateway_mutations_cpu_per_mutation",
        per_mutation,
        "ms",
        budget,
        False,
        **figures,
        note="CPU of the gateway, the services, Postgres, NATS and the load generator over the"
        " measured window, per mutation; the limit is what this machine's cores allow per"
        " mutation at 1,500/s",
    )
    emit(
        "gateway_mutation_latency_p99",
        pct(gw.latencies, 0.99) * 1000,
        "ms",
        100,
        False,
        p50_ms=ms(pct(gw.latencies, 0.5)),
        direct_p50_ms=ms(pct(direct.latencies, 0.5)),
        direct_p99_ms=ms(pct(direct.latencies, 0.99)),
        **context,
    )
    emit(
        "gateway_task_query_latency_p99",
        pct(q_lat, 0.99) * 1000,
        "ms",
        20,
        False,
        p50_ms=ms(pct(q_lat, 0.5)),
        offered_per_s=500,
        sent_per_s=round(q_offered, 1),
        answered=len(q_lat),
        sent=q_sent,
        errors=q_errors,
        loop="open (latency from the scheduled send time)",
        after_mutations_settled_s=round(caught_up, 1),
        closed_loop_capacity_per_s=round(capacity, 1),
        closed_loop_clients=8,
        closed_loop_p50_ms=ms(pct(cap_lat, 0.5)),
        closed_loop_p99_ms=ms(pct(cap_lat, 0.99)),
        query="task: data row, messages, prompts, responses, the viewer's label",
    )
    emit(
        "gateway_direct_to_labeling_mutations",
        direct_rate,
        "mutations/s",
        1500,
        True,
        p50_ms=ms(pct(direct.latencies, 0.5)),
        p99_ms=ms(pct(direct.latencies, 0.99)),
        mutations=len(direct.latencies),
        tasks=direct.tasks,
        ran_out_of_tasks=direct.ran_out,
        errors=direct.errors,
        error_examples=direct.examples,
        note="the same mix straight to labeling over NATS (RpcClient), same run, same system",
        rows=setup.rows,
        setup_seconds=round(setup_seconds, 1),
        after_setup_settled_s=round(setup_settled, 1),
        **context,
    )


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=20.0)
    parser.add_argument("--clients", type=int, default=32)
    parser.add_argument("--query-seconds", type=float, default=10.0)
    parser.add_argument("--rows", type=int, default=None, help="default: enough for both phases")
    args = parser.parse_args()
    run(main(args.seconds, args.clients, args.query_seconds, args.rows))
