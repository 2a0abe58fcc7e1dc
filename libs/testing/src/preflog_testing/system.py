"""``preflog up`` as a subprocess, exactly as an operator starts it: its own database,
NATS namespace, free port and bootstrap token, all through environment variables.

Used by the end-to-end suite and the gateway benchmark: :func:`start` spawns it and waits
until ``/readyz`` says every part answers, :meth:`Up.stop` stops it (SIGTERM, then SIGKILL)
and deletes the namespace's streams from the NATS server.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import sys
import time
import uuid
from dataclasses import dataclass
from pathlib import Path

import httpx

from preflog_messaging import connect, delete_namespace_streams
from preflog_settings.local import free_port


@dataclass
class Up:
    url: str
    port: int
    token: str
    """The bootstrap admin token the process was started with."""
    namespace: str
    nats_url: str
    process: asyncio.subprocess.Process
    log_path: Path
    env: dict[str, str]

    def log(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    async def stop(self) -> int:
        """Stop the process (SIGTERM; SIGKILL after 15 s) and delete its NATS streams;
        the process's exit code."""
        if self.process.returncode is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                await asyncio.wait_for(self.process.wait(), 15)
            except TimeoutError:
                self.process.kill()
                await self.process.wait()
        with contextlib.suppress(Exception):
            nc = await connect(self.nats_url)
            await delete_namespace_streams(nc.jetstream(), self.namespace)
            await nc.close()
        return int(self.process.returncode or 0)

    async def kill(self) -> None:
        """SIGKILL to the process and every child of it (its gateway), at once, as when the
        machine or container under it dies; its NATS streams stay (see :func:`start_again`)."""
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.process.pid, signal.SIGKILL)
        await self.process.wait()


def preflog_env(
    database_url: str, nats_url: str, namespace: str, port: int, token: str, **extra: str
) -> dict[str, str]:
    """The environment of a ``preflog up`` on its own database, namespace and port (no
    ``PREFLOG_*`` variable of the caller's leaks in)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PREFLOG_")}
    env.update(
        PREFLOG_DATABASE_URL=database_url,
        PREFLOG_NATS_URL=nats_url,
        PREFLOG_NAMESPACE=namespace,
        PREFLOG_HTTP_PORT=str(port),
        PREFLOG_BOOTSTRAP_TOKEN=token,
        PREFLOG_LOAD_DEMO="false",
        PREFLOG_LOG_FORMAT="json",
        PREFLOG_LOG_LEVEL="warning",
        **extra,
    )
    return env


async def start(
    database_url: str,
    nats_url: str,
    log_dir: Path,
    *,
    prefix: str,
    extra_env: dict[str, str] | None = None,
    ready_within: float = 90.0,
) -> Up:
    """``preflog up`` on ``database_url`` (migrated at start if need be), ready to serve.

    ``prefix`` names its namespace, token and log file; ``extra_env`` adds settings. Fails
    (after stopping it) if the process exits or is not ready within ``ready_within`` s.
    """
    port = free_port()
    token = f"pfl_{prefix}_{uuid.uuid4().hex}"
    namespace = f"{prefix}{uuid.uuid4().hex[:10]}"
    env = preflog_env(database_url, nats_url, namespace, port, token, **(extra_env or {}))
    log_path = _log_file(log_dir, f"preflog-up-{prefix}-{port}.log")
    process = await _spawn(env, log_path, "wb")
    up = Up(f"http://127.0.0.1:{port}", port, token, namespace, nats_url, process, log_path, env)
    return await _ready(up, ready_within)


async def start_again(up: Up, *, ready_within: float = 90.0) -> Up:
    """``up`` (which has ended) started again exactly as before: the same database, NATS
    namespace, port and bootstrap token; its output appended to the same log."""
    if up.process.returncode is None:
        raise RuntimeError("start_again: the process is still running")
    process = await _spawn(up.env, up.log_path, "ab")
    again = Up(up.url, up.port, up.token, up.namespace, up.nats_url, process, up.log_path, up.env)
    return await _ready(again, ready_within)


async def _spawn(env: dict[str, str], log_path: Path, mode: str) -> asyncio.subprocess.Process:
    """``preflog up`` in a session of its own (so a kill of its group reaches its gateway)."""
    with log_path.open(mode) as log:
        return await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "preflog_cli.main",
            "up",
            env=env,
            stdout=log,
            stderr=asyncio.subprocess.STDOUT,
            start_new_session=True,
        )


async def _ready(up: Up, within: float) -> Up:
    """``up`` once ready; stopped (and the error raised) if it is not."""
    try:
        await _wait_ready(up, within)
    except BaseException:
        await up.stop()
        raise
    return up


def _log_file(log_dir: Path, name: str) -> Path:
    log_dir.mkdir(parents=True, exist_ok=True)
    return log_dir / name


async def _wait_ready(up: Up, within: float) -> None:
    """Until ``/readyz`` answers 200 (every service answers); fails if the process dies."""
    deadline = time.monotonic() + within
    last = ""
    async with httpx.AsyncClient(base_url=up.url, timeout=5) as http:
        while time.monotonic() < deadline:
            if up.process.returncode is not None:
                raise RuntimeError(f"preflog up exited with {up.process.returncode}:\n{up.log()}")
            with contextlib.suppress(httpx.HTTPError):
                r = await http.get("/readyz")
                last = r.text
                if r.status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise RuntimeError(f"preflog up not ready in {within:.0f} s (last /readyz: {last})")
