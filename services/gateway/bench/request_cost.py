"""The gateway's CPU per request, by kind of request, against ``preflog up``.

    uv run python services/gateway/bench/request_cost.py [--seconds 4] [--clients 8]
        [--rounds 2] [--kinds typename,task,rank,answer] [--open-rate 500]

A diagnostic beside ``gateway_bench.py`` (whose system, set-up and HTTP client it uses): for
each kind, ``clients`` annotators send it in a closed loop for ``seconds``. It prints one JSON
object per kind and round, with the rate and the CPU per request of the gateway process and of
the rest of ``preflog up``. This is how ADR 0013 and 0014 were measured:

- ``typename``: ``{ __typename }``, the fixed cost of a request;
- ``task``: the bench's task query;
- ``rank`` and ``answer``: a mutation answering with its label. Each annotator repeats it on
  one task, so the label's history grows as the rounds go on.

With ``--open-rate``, it then sends the task query open loop at that rate for 10 s per round
and prints p50/p90/p99, as the bench's query phase does. Nothing is asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import shutil
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import httpx
from gateway_bench import (
    ANSWER,
    CLAIM,
    RANK,
    RESPONSES,
    TASK_QUERY,
    Connection,
    cpu_seconds,
    graphql_body,
    pct,
    query_phase,
    set_up,
    start_preflog,
)

KINDS: dict[str, tuple[str, Callable[[str], dict[str, Any]]]] = {
    "typename": ("{ __typename }", lambda task: {}),
    "task": (TASK_QUERY, lambda task: {"t": task}),
    "rank": (
        RANK,
        lambda task: {
            "t": task,
            "r": [{"responseId": r, "rank": k + 1} for k, r in enumerate(RESPONSES)],
        },
    ),
    "answer": (ANSWER, lambda task: {"t": task, "q": "safe", "a": True, "target": None}),
}


def gateway_pid(up_pid: int) -> int:
    """``preflog up`` runs the gateway as its one child process."""
    for task in Path(f"/proc/{up_pid}/task").iterdir():
        children = (task / "children").read_text().split()
        if children:
            return int(children[0])
    raise RuntimeError("preflog up has no gateway child")


class HeldTask:
    def __init__(self, task: str) -> None:
        self.task: str | None = task


async def closed_loop(
    port: int, held: list[tuple[str, str]], query: str, variables: Any, seconds: float
) -> int:
    sent = 0
    until = time.perf_counter() + seconds

    async def client(token: str, task: str) -> None:
        nonlocal sent
        conn = await Connection.open(port)
        body = graphql_body(query, variables(task))
        while time.perf_counter() < until:
            status, raw = await conn.post("/graphql", body, token)
            if status != 200 or b'"errors"' in raw:
                raise RuntimeError(f"{status}: {raw[:300]!r}")
            sent += 1
        conn.close()

    await asyncio.gather(*(client(token, task) for token, task in held))
    return sent


async def main(
    seconds: float, clients: int, rounds: int, kinds: list[str], open_rate: float | None
) -> None:
    log_dir = Path(os.environ.get("TMPDIR", "/tmp")) / f"request-cost-{os.getpid()}"
    running, stop = await start_preflog(log_dir)
    try:
        async with httpx.AsyncClient(base_url=running.url, timeout=60) as http:
            setup = await set_up(http, running.token, clients, 200)
            held: list[tuple[str, str]] = []
            for _, token in setup.annotators:
                r = await http.post(
                    "/graphql",
                    json={"query": CLAIM, "variables": {"p": setup.project_id}},
                    headers={"authorization": f"Bearer {token}"},
                )
                held.append((token, r.json()["data"]["claimNextTask"]["id"]))
        gateway = gateway_pid(running.process.pid)
        await asyncio.sleep(2)
        for round_ in range(rounds):
            for kind in kinds:
                query, variables = KINDS[kind]
                g0, all0 = cpu_seconds(gateway), cpu_seconds(running.process.pid)
                t0 = time.perf_counter()
                n = await closed_loop(running.port, held, query, variables, seconds)
                elapsed = time.perf_counter() - t0
                g = cpu_seconds(gateway) - g0
                rest = cpu_seconds(running.process.pid) - all0 - g
                print(
                    json.dumps(
                        {
                            "kind": kind,
                            "round": round_,
                            "per_s": round(n / elapsed, 1),
                            "gateway_cpu_ms": round(1000 * g / n, 3),
                            "services_cpu_ms": round(1000 * rest / n, 3),
                        }
                    ),
                    flush=True,
                )
        if open_rate:
            setup.annotators[:] = [
                (user, token) for (user, _), (token, _) in zip(setup.annotators, held, strict=True)
            ]
            sims: list[Any] = [HeldTask(task) for _, task in held]
            for round_ in range(rounds):
                lat, errors, _, _ = await query_phase(running, setup, sims, open_rate, 10.0)
                print(
                    json.dumps(
                        {
                            "open_rate": open_rate,
                            "round": round_,
                            "p50_ms": round(pct(lat, 0.5) * 1000, 1),
                            "p90_ms": round(pct(lat, 0.9) * 1000, 1),
                            "p99_ms": round(pct(lat, 0.99) * 1000, 1),
                            "errors": errors,
                        }
                    ),
                    flush=True,
                )
    finally:
        await stop()
        shutil.rmtree(log_dir, ignore_errors=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=4.0)
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--kinds", default="typename,task,rank,answer")
    parser.add_argument("--open-rate", type=float, default=None)
    a = parser.parse_args()
    asyncio.run(main(a.seconds, a.clients, a.rounds, a.kinds.split(","), a.open_rate))
