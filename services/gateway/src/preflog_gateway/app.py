"""The gateway's litestar application (composition root of the HTTP side)."""

from __future__ import annotations

from litestar import Litestar
from litestar.di import Provide

from preflog_gateway.health import HealthController
from preflog_messaging.runtime import Runtime


def build_app(runtime: Runtime) -> Litestar:
    def provide_runtime() -> Runtime:
        return runtime

    return Litestar(
        route_handlers=[HealthController],
        dependencies={"runtime": Provide(provide_runtime, sync_to_thread=False)},
        request_max_body_size=runtime.settings.max_body_bytes,
    )
