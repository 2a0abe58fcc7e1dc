"""``preflog up`` whose gateway dies stops, and says it failed, so a supervisor restarts it."""

from __future__ import annotations

import asyncio
import os
import signal
import uuid
from pathlib import Path

import pytest

from preflog_eventstore import create_database, drop_database
from preflog_testing.infra import Infra
from preflog_testing.system import start

pytestmark = pytest.mark.timeout(120)


def children(pid: int) -> list[int]:
    return [int(c) for c in Path(f"/proc/{pid}/task/{pid}/children").read_text().split()]


@pytest.mark.skipif(not Path("/proc/self/task").exists(), reason="reads /proc")
async def test_a_dead_gateway_stops_preflog_up_with_a_failure(
    infra: Infra, template_database: str, tmp_path: Path
) -> None:
    name = f"preflog_gw_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(infra.admin_dsn, name, template=template_database)
    up = await start(dsn, infra.nats_url, tmp_path, prefix="gwdeath")
    try:
        (gateway,) = children(up.process.pid)
        os.kill(gateway, signal.SIGKILL)  # the OOM killer, say
        code = await asyncio.wait_for(up.process.wait(), 30)
        assert code == 1
        assert "the gateway exited (-9); stopping" in up.log()
    finally:
        await up.stop()
        await drop_database(infra.admin_dsn, name)
