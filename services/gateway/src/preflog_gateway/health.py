"""Liveness, readiness and metrics endpoints of the gateway."""

from __future__ import annotations

import asyncio

from litestar import Controller, Response, get
from litestar.status_codes import HTTP_200_OK, HTTP_503_SERVICE_UNAVAILABLE
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from preflog_gateway.gateway import gateway_parts
from preflog_messaging.rpc import CallContext, Ping
from preflog_messaging.runtime import Runtime
from preflog_settings import SERVICES


async def readiness(runtime: Runtime, services: tuple[str, ...]) -> dict[str, bool]:
    """Postgres answers, NATS is connected, and each named service answers a ping."""

    async def postgres() -> bool:
        try:
            return bool(await asyncio.wait_for(runtime.pool.fetchval("select 1"), 2))
        except Exception:
            return False

    async def service(name: str) -> bool:
        try:
            await runtime.rpc.call(name, "ping", Ping(), ctx=CallContext(), timeout=2)
            return True
        except Exception:
            return False

    results = await asyncio.gather(postgres(), *(service(s) for s in services))
    checks = {"postgres": results[0], "nats": runtime.nc.is_connected}
    checks.update({f"service:{s}": ok for s, ok in zip(services, results[1:], strict=True)})
    return checks


class HealthController(Controller):
    path = "/"
    include_in_schema = False

    @get("/healthz", sync_to_thread=False)
    def healthz(self) -> dict[str, str]:
        return {"status": "ok"}

    @get("/readyz")
    async def readyz(self, runtime: Runtime) -> Response[dict[str, object]]:
        services = tuple(s for s in SERVICES if s != "gateway")
        checks = await readiness(runtime, services)
        # Serving starts before the bootstrap: until it is done, tokens may not work yet.
        checks["gateway"] = gateway_parts(runtime).started
        ok = all(checks.values())
        return Response(
            {"ready": ok, "checks": checks},
            status_code=HTTP_200_OK if ok else HTTP_503_SERVICE_UNAVAILABLE,
        )

    @get("/metrics", sync_to_thread=False)
    def metrics(self) -> Response[bytes]:
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)
