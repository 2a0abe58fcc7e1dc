"""The gateway's components for one runtime, and their background loops."""

from __future__ import annotations

import asyncio
import contextlib

from preflog_eventstore import ProjectionRunner
from preflog_gateway.accounts.access import ProjectAccessProjection
from preflog_gateway.accounts.authenticate import Authenticator
from preflog_gateway.accounts.handlers import Accounts
from preflog_gateway.graphql.context import Gateway
from preflog_gateway.graphql.live import LiveEvents
from preflog_gateway.limits import RateLimiter
from preflog_messaging.runtime import Runtime


class GatewayParts:
    """Everything the HTTP side needs; ``start`` runs the read models' loops."""

    def __init__(self, runtime: Runtime) -> None:
        accounts = Accounts(runtime.store)
        self.gateway = Gateway(
            runtime=runtime,
            accounts=accounts,
            authenticator=Authenticator(runtime.pool),
            rate_limiter=RateLimiter(runtime.settings.rate_limit_per_minute),
        )
        self.access_runner = ProjectionRunner(runtime.store, ProjectAccessProjection())
        self.live = LiveEvents(runtime.store, runtime.nc, runtime.settings.namespace)
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []
        # Set by ``bootstrap.on_start`` once the read models are current and an empty
        # database has its first org and admin token: /readyz answers 503 until then.
        self.started = False

    @property
    def accounts(self) -> Accounts:
        return self.gateway.accounts

    async def start(self) -> None:
        """Catch the read models up, then keep them current in the background."""
        if self._tasks:
            return
        await self.accounts.runner.catch_up()
        await self.access_runner.catch_up()
        for runner in (self.accounts.runner, self.access_runner):
            self._tasks.append(asyncio.create_task(runner.run(self._stop)))

    async def stop(self) -> None:
        self._stop.set()
        await self.live.stop()
        await self.gateway.authenticator.flush()
        for t in self._tasks:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(t, 5)
        self._tasks.clear()


_BY_RUNTIME: dict[int, GatewayParts] = {}


def gateway_parts(runtime: Runtime) -> GatewayParts:
    """The one GatewayParts of this runtime (made on first use)."""
    parts = _BY_RUNTIME.get(id(runtime))
    if parts is None or parts.gateway.runtime is not runtime:
        parts = _BY_RUNTIME[id(runtime)] = GatewayParts(runtime)
    return parts
