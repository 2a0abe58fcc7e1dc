"""Composition root of the ingest service: ``build(runtime)`` for ``preflog serve ingest``."""

from __future__ import annotations

import asyncio
import uuid

from preflog_ingest.adapters import project_consumer, rpc_endpoints
from preflog_ingest.adapters.url_fetcher import UrlFetcher
from preflog_ingest.handlers.datasets import Datasets
from preflog_ingest.handlers.deps import IngestDeps, allowed_hosts, limits_from
from preflog_ingest.handlers.imports import Imports
from preflog_ingest.handlers.prelabels import PreLabels
from preflog_messaging.runtime import Runtime, ServiceParts

SERVICE = "ingest"


async def build(runtime: Runtime) -> ServiceParts:
    settings = runtime.settings
    fetcher = UrlFetcher(
        allow_hosts=allowed_hosts(settings),
        concurrency=settings.url_fetch_concurrency,
        timeout_seconds=settings.url_fetch_timeout_seconds,
        max_bytes=settings.url_fetch_max_bytes,
    )
    deps = IngestDeps(
        settings=settings,
        pool=runtime.pool,
        store=runtime.store,
        rpc=runtime.rpc,
        fetcher=fetcher,
        limits=limits_from(settings),
        instance=uuid.uuid4().hex[:12],
    )
    datasets, imports, prelabels = Datasets(deps), Imports(deps), PreLabels(deps)
    server = runtime.rpc_server(SERVICE)
    rpc_endpoints.register(server, datasets, imports, prelabels)
    instance_server = runtime.rpc_server(f"{SERVICE}.{deps.instance}")
    rpc_endpoints.register_instance(instance_server, imports)

    async def serve_instance_subject(stop: asyncio.Event) -> None:
        await instance_server.start()
        try:
            await stop.wait()
        finally:
            await instance_server.stop()
            await fetcher.close()

    consumer = runtime.consumer(
        project_consumer.DURABLE,
        project_consumer.learn_project_event,
        categories=project_consumer.CATEGORIES,
    )
    return ServiceParts(
        name=SERVICE,
        rpc=server,
        consumers=[consumer],
        loops=[serve_instance_subject, imports.reap_idle],
    )
