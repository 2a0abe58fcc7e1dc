"""Processes' CPU in a benchmark: waiting until the system under test has worked off what the
last phase left (consumers and projections catching up), so one phase's backlog does not weigh
on the next phase's figures; and how the machine's CPU split between the parts of the system
during a phase."""

from __future__ import annotations

import asyncio
import os
import time
from collections.abc import Callable
from pathlib import Path

SETTLE_SECONDS = 3.0  # at least, between phases
IDLE_CORES = 0.15  # the system is idle when its processes use less than this


async def settle(pid: int, limit: float = 60.0, at_least: float = SETTLE_SECONDS) -> float:
    """Wait at least ``at_least`` s, then until process ``pid`` and its descendants use less
    than IDLE_CORES over half a second, or ``limit`` s. Seconds waited."""
    start = time.perf_counter()
    await asyncio.sleep(at_least)
    while time.perf_counter() - start < limit:
        before = cpu_seconds(pid)
        await asyncio.sleep(0.5)
        if (cpu_seconds(pid) - before) / 0.5 < IDLE_CORES:
            break
    return time.perf_counter() - start


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of a process and its descendants (Linux /proc)."""
    total = 0.0
    pending = [pid]
    while pending:
        current = pending.pop()
        try:
            fields = Path(f"/proc/{current}/stat").read_text().rsplit(")", 1)[1].split()
            total += (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")
            for task in Path(f"/proc/{current}/task").iterdir():
                pending.extend(int(c) for c in (task / "children").read_text().split())
        except OSError:
            continue
    return total


def processes_cpu() -> dict[int, tuple[str, float]]:
    """Every process's command line and CPU seconds so far (user + system; Linux /proc)."""
    tick = os.sysconf("SC_CLK_TCK")
    found: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        name = stat[stat.find("(") + 1 : stat.rfind(")")]
        found[int(entry.name)] = (
            command.strip() or name,
            (int(fields[11]) + int(fields[12])) / tick,
        )
    return found


def cpu_split(
    before: dict[int, tuple[str, float]],
    after: dict[int, tuple[str, float]],
    role: Callable[[int, str], str],
) -> dict[str, float]:
    """CPU seconds each role (``role(pid, command)``) used between two ``processes_cpu``
    snapshots; processes that started in between count from zero."""
    used: dict[str, float] = {}
    for pid, (command, seconds) in after.items():
        spent = seconds - before.get(pid, (command, 0.0))[1]
        if spent > 0:
            key = role(pid, command)
            used[key] = used.get(key, 0.0) + spent
    return used


def common_role(pid: int, command: str) -> str:
    """Postgres, NATS, this process (the load generator), or other."""
    if command.startswith("postgres"):
        return "postgres"
    if "nats-server" in command:
        return "nats"
    if pid == os.getpid():
        return "load_generator"
    return "other"


async def cpu_in_window(
    start: float, end: float, role: Callable[[int, str], str]
) -> dict[str, float]:
    """CPU seconds of each role between the ``time.perf_counter`` times ``start`` and ``end``."""
    await asyncio.sleep(max(0.0, start - time.perf_counter()))
    before = processes_cpu()
    await asyncio.sleep(max(0.0, end - time.perf_counter()))
    return cpu_split(before, processes_cpu(), role)


def cpu_per_operation(
    used: dict[str, float], operations: int, seconds: float, rate: int
) -> tuple[float, float, dict[str, object]]:
    """From ``cpu_in_window``'s CPU seconds by role over ``seconds`` in which ``operations``
    were done: the milliseconds of CPU per operation (every role but "other"), the most this
    machine's cores allow per operation at ``rate`` per second, and the figures beside them
    (by role, the cores used, the cores ``rate`` would take, the system without the load
    generator)."""
    parts = {k: v for k, v in used.items() if k != "other"}
    count = max(operations, 1)
    total_ms = sum(parts.values()) * 1000 / count
    budget_ms = round((os.cpu_count() or 2) * 1000 / rate, 3)
    return (
        total_ms,
        budget_ms,
        {
            "by_part_ms": {k: round(v * 1000 / count, 3) for k, v in sorted(parts.items())},
            "other_processes_cores": round(used.get("other", 0.0) / seconds, 3),
            "cores_used": round(sum(parts.values()) / seconds, 2),
            f"cores_for_{rate}_per_s": round(total_ms * rate / 1000, 2),
            "system_ms_without_load_generator": round(
                (sum(parts.values()) - parts.get("load_generator", 0.0)) * 1000 / count, 3
            ),
        },
    )
