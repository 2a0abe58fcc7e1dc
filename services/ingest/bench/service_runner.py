"""Run the ingest service alone (no relay, no gateway) until SIGTERM: the benchmark's
service process. Settings come from the environment (PREFLOG_*)."""

from __future__ import annotations

import asyncio
import signal

from preflog_ingest.bootstrap import build
from preflog_messaging.runtime import open_runtime, start_parts, stop_parts
from preflog_settings import load_settings


async def main() -> None:
    settings = load_settings()
    runtime = await open_runtime(settings)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    parts = [await build(runtime)]
    tasks = await start_parts(parts, stop)
    print("ready", flush=True)
    await stop.wait()
    await stop_parts(parts, tasks, stop)
    await runtime.close()


if __name__ == "__main__":
    asyncio.run(main())
