"""The services this installation runs, and how each is built from a runtime."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from importlib import import_module

from preflog_messaging.runtime import Runtime, ServiceParts

Builder = Callable[[Runtime], Awaitable[ServiceParts]]

# name -> "module:function" building its ServiceParts. The gateway is not here: it is the
# HTTP side, started by the commands themselves.
BUILDERS: dict[str, str] = {
    "ingest": "preflog_ingest.bootstrap:build",
    "labeling": "preflog_labeling.bootstrap:build",
    "review": "preflog_review.bootstrap:build",
    "export": "preflog_export.bootstrap:build",
}


def builder(name: str) -> Builder:
    module, _, function = BUILDERS[name].partition(":")
    built: Builder = getattr(import_module(module), function)
    return built


def backend_services() -> list[str]:
    return list(BUILDERS)
