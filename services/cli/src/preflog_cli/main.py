"""The ``preflog`` command."""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import signal
import socket
import sys
from collections.abc import Awaitable, Callable

import structlog
import uvicorn

from preflog_cli import infra
from preflog_cli.demo import add_demo_parser, run_demo
from preflog_cli.export_command import add_export_parser
from preflog_cli.import_command import add_import_parser
from preflog_cli.services import backend_services, builder
from preflog_eventstore import migrate
from preflog_eventstore.relay import Relay
from preflog_messaging.runtime import (
    ServiceParts,
    open_runtime,
    run,
    start_parts,
    stop_parts,
    supervise,
    watch_loop_lag,
)
from preflog_observability import configure_logging
from preflog_observability.health import serve_health
from preflog_settings import SERVICES, Settings, env_var, load_settings
from preflog_settings.local import exit_with_parent

log = structlog.get_logger("preflog")


def _stop_on_signals(stop: asyncio.Event) -> None:
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):
            loop.add_signal_handler(sig, stop.set)


def _check_port_free(host: str, port: int) -> None:
    """Fail before starting anything when the HTTP port is taken (another preflog, say)."""
    with socket.socket() as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            probe.bind((host, port))
        except OSError as exc:
            raise SystemExit(f"cannot serve on {host}:{port}: {exc.strerror}") from None


AfterStart = Callable[[asyncio.Event], Awaitable[Callable[[], Awaitable[None]]]]


async def _run(
    settings: Settings,
    names: list[str],
    *,
    gateway: bool,
    announce: bool,
    after_start: AfterStart | None = None,
) -> None:
    _check_port_free(
        settings.http_host, settings.http_port if gateway else settings.service_http_port
    )
    applied = await migrate(settings.database_url)
    if applied:
        log.info("migrated", applied=applied)
    runtime = await open_runtime(settings)
    stop = asyncio.Event()
    _stop_on_signals(stop)
    parts: list[ServiceParts] = [await builder(n)(runtime) for n in names]
    relay = Relay(runtime.store, runtime.nc, namespace=settings.namespace)
    tasks = await start_parts(parts, stop, lost=runtime.lost)
    tasks.append(asyncio.create_task(supervise(relay.run, stop, "relay", runtime.lost)))
    tasks.append(asyncio.create_task(supervise(watch_loop_lag, stop, "loop_lag")))
    server: uvicorn.Server | None = None
    failed = False
    health = None
    if gateway:
        from preflog_gateway.app import build_app
        from preflog_gateway.bootstrap import on_start
        from preflog_gateway.http_protocol import CoalescingHttpProtocol

        app = build_app(runtime)
        config = uvicorn.Config(
            app,
            host=settings.http_host,
            port=settings.http_port,
            log_level="warning",
            lifespan="off",
            http=CoalescingHttpProtocol,
            ws="auto",
        )
        server = uvicorn.Server(config)
        serving = asyncio.create_task(server.serve())
        # uvicorn logs a failed bind (port taken) and returns: then the whole process stops.
        serving.add_done_callback(lambda _: stop.set())
        tasks.append(serving)
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
    finish = await after_start(stop) if after_start is not None else None
    await stop.wait()
    if finish is not None:
        await finish()
    if server is not None:
        if not server.started:
            failed = True
        server.should_exit = True
    if health is not None:
        health.close()
    await stop_parts(parts, tasks, stop)
    if gateway:
        from preflog_gateway.gateway import gateway_parts

        # Its read-model loops and live follower, before the pool they use closes.
        await gateway_parts(runtime).stop()
    await runtime.close()
    if failed:
        raise SystemExit(f"could not serve HTTP on {settings.http_host}:{settings.http_port}")


async def _up(settings: Settings) -> None:
    """The services in this process, the gateway in a child process.

    One Python process uses one core; the gateway's GraphQL work and the services' command
    handling each fill one, so they run side by side. The child starts once the services
    answer (its first start bootstraps and loads the demo through them); if either side
    stops, both do.
    """
    resolved = await infra.resolve(settings, allow_embedded=True)
    for what, where in resolved.described.items():
        print(f"{what}: {where}", flush=True)
    _check_port_free(resolved.settings.http_host, resolved.settings.http_port)
    env = dict(os.environ)
    env[env_var("database_url")] = resolved.settings.database_url
    env[env_var("nats_url")] = resolved.settings.nats_url

    gateway_died: list[int] = []

    async def start_gateway(stop: asyncio.Event) -> Callable[[], Awaitable[None]]:
        child = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            "preflog_cli.main",
            "serve",
            "gateway",
            "--announce",
            env=env,
            # Stopped with us even when we are killed outright: a gateway left behind would
            # keep the port and answer for services that are gone.
            preexec_fn=exit_with_parent(),
        )

        async def watch() -> None:
            await child.wait()
            if not stop.is_set():  # it ended on its own, not because we are stopping
                gateway_died.append(child.returncode or 0)
                print(f"preflog: the gateway exited ({child.returncode}); stopping", flush=True)
            stop.set()

        watcher = asyncio.create_task(watch())

        async def finish() -> None:
            if child.returncode is None:
                child.terminate()
                try:
                    await asyncio.wait_for(child.wait(), 15)
                except TimeoutError:
                    child.kill()
            await watcher

        return finish

    try:
        await _run(
            resolved.settings,
            backend_services(),
            gateway=False,
            announce=False,
            after_start=start_gateway,
        )
    finally:
        resolved.close()
    if gateway_died:
        # A failure, so that a supervisor (systemd's on-failure, a container's restart
        # policy) starts the whole system again.
        raise SystemExit(1)


async def _serve(settings: Settings, service: str, *, announce: bool = False) -> None:
    resolved = await infra.resolve(settings, allow_embedded=False)
    names = [] if service == "gateway" else [service]
    await _run(resolved.settings, names, gateway=service == "gateway", announce=announce)


async def _migrate(settings: Settings) -> None:
    resolved = await infra.resolve(settings, allow_embedded=True)
    try:
        applied = await migrate(resolved.settings.database_url)
        print("applied: " + (", ".join(applied) if applied else "nothing (up to date)"))
    finally:
        resolved.close()


async def _token_create(settings: Settings, email: str, name: str) -> int:
    """Issue a token for an existing user (the operator's command line acts as the system)."""
    from preflog_gateway.gateway import gateway_parts

    resolved = await infra.resolve(settings, allow_embedded=True)
    try:
        await migrate(resolved.settings.database_url)
        runtime = await open_runtime(resolved.settings)
        try:
            parts = gateway_parts(runtime)
            await parts.accounts.runner.catch_up()
            user = await parts.accounts.find_user_by_email(email)
            if user is None:
                print(f"no user with email {email}", file=sys.stderr)
                return 1
            issued = await parts.accounts.issue_token(None, user_id=user.user_id, name=name)
            print(issued.secret)
            return 0
        finally:
            await runtime.close()
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
    # `preflog up` runs the gateway as a child that prints the address and first-run lines.
    serve.add_argument("--announce", action="store_true", help=argparse.SUPPRESS)
    sub.add_parser("migrate", help="apply database migrations")
    token = sub.add_parser("token", help="API tokens")
    token_sub = token.add_subparsers(dest="token_command", required=True)
    create = token_sub.add_parser("create", help="issue a token for a user (printed once)")
    create.add_argument("--user", required=True, help="the user's email")
    create.add_argument("--name", default="cli", help="a name to tell the token apart")
    add_demo_parser(sub)
    add_import_parser(sub)  # sets ``run``: it calls the ingest service over NATS
    add_export_parser(sub)  # sets ``run``: it talks to a running gateway over HTTP
    return p


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    settings = load_settings()
    configure_logging(fmt=settings.log_format, level=settings.log_level)
    if args.command == "up":
        run(_up(settings))
    elif args.command == "serve":
        run(_serve(settings, args.service, announce=args.announce))
    elif args.command == "migrate":
        asyncio.run(_migrate(settings))
    elif args.command == "token":
        return asyncio.run(_token_create(settings, args.user, args.name))
    elif args.command == "demo":
        return run_demo(settings)
    elif hasattr(args, "run"):
        status: int = args.run(args)
        return status
    return 0


if __name__ == "__main__":
    sys.exit(main())
