"""Waiting, in a benchmark, until the system under test has worked off what the last phase
left (consumers and projections catching up), so one phase's backlog does not weigh on the
next phase's figures."""

from __future__ import annotations

import asyncio
import os
import time
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
