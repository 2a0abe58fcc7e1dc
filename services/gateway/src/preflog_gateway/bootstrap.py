"""What the gateway does when the system starts (bootstrap of the first org comes here)."""

from __future__ import annotations

from preflog_messaging.runtime import Runtime


async def on_start(runtime: Runtime) -> list[str]:
    """Lines to print for the operator after start-up."""
    return []
