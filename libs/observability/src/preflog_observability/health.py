"""A tiny HTTP server for ``/healthz``, ``/readyz`` and ``/metrics`` of a service run alone.

The gateway serves the same paths from its own app; this one has no framework so that
every service can expose probes without one.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

ReadyCheck = Callable[[], Awaitable[dict[str, bool]]]


async def serve_health(host: str, port: int, ready: ReadyCheck) -> asyncio.Server:
    """Start serving; ``ready`` returns component -> ok, and /readyz is 200 only if all are."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            request_line = await asyncio.wait_for(reader.readline(), 5)
            while (await asyncio.wait_for(reader.readline(), 5)) not in (b"\r\n", b"\n", b""):
                pass
            parts = request_line.decode("latin-1").split()
            path = parts[1] if len(parts) > 1 else "/"
            status, ctype, body = 404, "text/plain", b"not found"
            if path == "/healthz":
                status, ctype, body = 200, "application/json", b'{"status":"ok"}'
            elif path == "/metrics":
                status, ctype, body = 200, CONTENT_TYPE_LATEST, generate_latest()
            elif path == "/readyz":
                checks = await ready()
                ok = all(checks.values())
                status, ctype = (200 if ok else 503), "application/json"
                inner = ",".join(f'"{k}":{"true" if v else "false"}' for k, v in checks.items())
                body = f'{{"ready":{"true" if ok else "false"},"checks":{{{inner}}}}}'.encode()
            reason = {200: "OK", 404: "Not Found", 503: "Service Unavailable"}[status]
            writer.write(
                f"HTTP/1.1 {status} {reason}\r\nContent-Type: {ctype}\r\n"
                f"Content-Length: {len(body)}\r\nConnection: close\r\n\r\n".encode()
                + body
            )
            await writer.drain()
        except (TimeoutError, ConnectionError):
            pass
        finally:
            writer.close()

    return await asyncio.start_server(handle, host, port)
