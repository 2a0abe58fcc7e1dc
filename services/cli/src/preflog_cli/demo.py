"""``preflog demo``: load the small sample project a new user can click through.

Works against a running ``preflog up`` (the services answer over NATS) and on its own: any
service that does not answer is run in this process until the demo is loaded. An empty
database is bootstrapped first (the admin token is printed once, as ``preflog up`` does).
"""

from __future__ import annotations

import asyncio
import sys
from typing import Any

import msgspec

from preflog_cli import infra
from preflog_cli.services import backend_services, builder
from preflog_contracts.errors import PreflogError
from preflog_eventstore import migrate
from preflog_eventstore.relay import Relay
from preflog_messaging.runtime import (
    Runtime,
    ServiceParts,
    open_runtime,
    start_parts,
    stop_parts,
    supervise,
)
from preflog_settings import Settings


def add_demo_parser(sub: Any) -> None:
    """Add the ``demo`` subcommand to the ``preflog`` parser's subparsers."""
    sub.add_parser(
        "demo",
        help="load a sample project: datasets, a consensus project, labels, an approved task",
    )


def run_demo(settings: Settings) -> int:
    """Run ``preflog demo``; returns the exit status (0 loaded or already there, 1 refused)."""
    return asyncio.run(_demo(settings))


async def _silent_services(runtime: Runtime) -> list[str]:
    from preflog_gateway.health import readiness

    checks = await readiness(runtime, tuple(backend_services()))
    return [name for name in backend_services() if not checks.get(f"service:{name}")]


async def _demo(settings: Settings) -> int:
    from preflog_gateway.bootstrap import on_start
    from preflog_gateway.demo import DemoLoader, identity_of
    from preflog_gateway.gateway import gateway_parts

    resolved = await infra.resolve(settings, allow_embedded=True)
    try:
        await migrate(resolved.settings.database_url)
        # The demo is loaded below, with progress shown; not by the bootstrap.
        runtime = await open_runtime(msgspec.structs.replace(resolved.settings, load_demo=False))
        stop = asyncio.Event()
        parts: list[ServiceParts] = []
        tasks: list[asyncio.Task[None]] = []
        gateway = gateway_parts(runtime)
        try:
            for line in await on_start(runtime):
                print(line, flush=True)
            missing = await _silent_services(runtime)
            if missing:
                print(f"running {', '.join(missing)} in this process for the demo", flush=True)
                parts = [await builder(name)(runtime) for name in missing]
                tasks = await start_parts(parts, stop, lost=runtime.lost)
                relay = Relay(runtime.store, runtime.nc, namespace=settings.namespace)
                tasks.append(asyncio.create_task(supervise(relay.run, stop, "relay", runtime.lost)))
            admin = await gateway.accounts.find_user_by_email(settings.bootstrap_admin_email)
            if admin is None:
                print(
                    f"no admin {settings.bootstrap_admin_email} (PREFLOG_BOOTSTRAP_ADMIN_EMAIL)",
                    file=sys.stderr,
                )
                return 1
            print("loading the demo ...", flush=True)
            summary = await DemoLoader(runtime, gateway.accounts, identity_of(admin)).load()
        except PreflogError as exc:
            print(f"{exc.code.value}: {exc.message}", file=sys.stderr)
            return 1
        finally:
            if parts:
                await stop_parts(parts, tasks, stop)
            await gateway.stop()
            await runtime.close()
        for line in summary.lines():
            print(line, flush=True)
        return 0
    finally:
        resolved.close()
