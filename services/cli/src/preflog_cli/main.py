"""The ``preflog`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys

import structlog
import uvicorn
from preflog_eventstore import migrate
from preflog_eventstore.relay import Relay
from preflog_messaging.runtime import ServiceParts, open_runtime, start_parts, stop_parts
from preflog_observability import configure_logging
from preflog_observability.health import serve_health
from preflog_settings import SERVICES, Settings, load_settings

from preflog_cli import infra
from preflog_cli.services import backend_services, builder

log = structlog.get_logger("preflog")


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


async def _run(settings: Settings, names: list[str], *, gateway: bool, announce: bool) -> None:
    applied = await migrate(settings.database_url)
    if applied:
        log.info("migrated", applied=applied)
    runtime = await open_runtime(settings)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    parts: list[ServiceParts] = [await builder(n)(runtime) for n in names]
    relay = Relay(runtime.store, runtime.js, namespace=settings.namespace)
    tasks = await start_parts(parts, stop)
    tasks.append(asyncio.create_task(relay.run(stop)))
    server: uvicorn.Server | None = None
    health = None
    if gateway:
        from preflog_gateway.app import build_app
        from preflog_gateway.bootstrap import on_start

        app = build_app(runtime)
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            lifespan="off",
            ws="websockets",
        )
        server = uvicorn.Server(config)
        server.install_signal_handlers = lambda: None  # type: ignore[method-assign]
        tasks.append(asyncio.create_task(server.serve()))
        greeting = await on_start(runtime)
        if announce:
            address = f"http://{settings.http_host}:{settings.http_port}"
            print(f"\nPreflog is up at {address}  (GraphQL: {address}/graphql)", flush=True)
            for line in greeting:
                print(line, flush=True)
    else:

        async def ready() -> dict[str, bool]:
            ok = True
            try:
                await runtime.pool.fetchval("select 1")
            except Exception:
                ok = False
            return {"postgres": ok, "nats": runtime.nc.is_connected}

        health = await serve_health(settings.http_host, settings.service_http_port, ready)
    await stop.wait()
    if server is not None:
        server.should_exit = True
    if health is not None:
        health.close()
    await stop_parts(parts, tasks, stop)
    await runtime.close()


async def _up(settings: Settings) -> None:
    resolved = await infra.resolve(settings, allow_embedded=True)
    for what, where in resolved.described.items():
        print(f"{what}: {where}", flush=True)
    try:
        await _run(resolved.settings, backend_services(), gateway=True, announce=True)
    finally:
        resolved.close()


async def _serve(settings: Settings, service: str) -> None:
    resolved = await infra.resolve(settings, allow_embedded=False)
    names = [] if service == "gateway" else [service]
    await _run(resolved.settings, names, gateway=service == "gateway", announce=False)


async def _migrate(settings: Settings) -> None:
    resolved = await infra.resolve(settings, allow_embedded=True)
    try:
        applied = await migrate(resolved.settings.database_url)
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    finally:
        resolved.close()


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="preflog", description="Preflog: human preference data for LLMs"
    )
    sub = p.add_subparsers(dest="command", required=True)
    sub.add_parser("up", help="run every service and the gateway on this machine")
    serve = sub.add_parser("serve", help="run one service")
    serve.add_argument("service", choices=SERVICES)
    sub.add_parser("migrate", help="apply database migrations")
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    if args.command == "up":
        asyncio.run(_up(settings))
    elif args.command == "serve":
        asyncio.run(_serve(settings, args.service))
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
    return 0


if __name__ == "__main__":
    sys.exit(main())
