"""Fetching ``row_data`` URLs without letting an import reach places it must not.

Every hop (the first request and each redirect, followed by hand, at most 5) is judged by
the domain's ``check_url`` with the addresses DNS gave for its host, and the connection goes
to the address that was checked: the URL is rewritten to that IP, the ``Host`` header and
the TLS server name (httpx's ``sni_hostname`` extension, which is also the name the
certificate is verified against) carry the original host. A second DNS answer (rebinding)
is therefore never used. Keep-alive is off so a connection opened for one host name is
never reused for another name on the same address. Bodies are streamed and cut off past
the size cap; a bounded pool limits concurrent fetches.
"""

from __future__ import annotations

import asyncio
import ipaddress
import socket
from collections.abc import Collection
from urllib.parse import urljoin, urlsplit, urlunsplit

import httpx

from preflog_ingest.domain import RowError, check_url
from preflog_ingest.domain.row_errors import IngestErrorCode

MAX_REDIRECTS = 5
_REDIRECTS = {301, 302, 303, 307, 308}


class FetchRefused(Exception):
    """The URL was refused or could not be fetched; ``error`` says why (path ``row_data``)."""

    def __init__(self, error: RowError) -> None:
        super().__init__(error.message)
        self.error = error


def _refused(code: IngestErrorCode, message: str) -> FetchRefused:
    return FetchRefused(RowError(code=code, path="row_data", message=message))


class UrlFetcher:
    def __init__(
        self,
        *,
        allow_hosts: Collection[str],
        concurrency: int,
        timeout_seconds: float,
        max_bytes: int,
    ) -> None:
        self.allow_hosts = frozenset(h.strip().lower() for h in allow_hosts if h.strip())
        self.max_bytes = max_bytes
        self._slots = asyncio.Semaphore(max(1, concurrency))
        self._client = httpx.AsyncClient(
            follow_redirects=False,
            timeout=httpx.Timeout(timeout_seconds),
            limits=httpx.Limits(max_keepalive_connections=0, max_connections=max(1, concurrency)),
            trust_env=False,  # never through a proxy from the environment
        )
        self._timeout = timeout_seconds

    async def close(self) -> None:
        await self._client.aclose()

    async def fetch(self, url: str) -> bytes:
        """The body at ``url`` (after allowed redirects). Raises FetchRefused."""
        async with self._slots:
            try:
                return await asyncio.wait_for(self._follow(url), self._timeout * 2)
            except TimeoutError:
                raise _refused(IngestErrorCode.FETCH_FAILED, f"timed out fetching {url}") from None

    async def _follow(self, url: str) -> bytes:
        for _ in range(MAX_REDIRECTS + 1):
            address = await self._checked_address(url)
            location, body = await self._request(url, address)
            if location is None:
                return body
            url = urljoin(url, location)
        raise _refused(
            IngestErrorCode.TOO_MANY_REDIRECTS, f"more than {MAX_REDIRECTS} redirects from the URL"
        )

    async def _checked_address(self, url: str) -> str:
        refused = check_url(url, (), self.allow_hosts)
        if refused is not None:
            raise FetchRefused(refused.within("row_data"))
        parts = urlsplit(url)
        host = (parts.hostname or "").rstrip(".")
        port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(
                host, port, type=socket.SOCK_STREAM
            )
        except (OSError, UnicodeError) as exc:
            raise _refused(
                IngestErrorCode.FETCH_FAILED, f"cannot resolve host '{host}': {exc}"
            ) from None
        addresses = list(dict.fromkeys(str(info[4][0]) for info in infos))
        if not addresses:
            raise _refused(IngestErrorCode.FETCH_FAILED, f"host '{host}' has no address")
        refused = check_url(url, addresses, self.allow_hosts)
        if refused is not None:
            raise FetchRefused(refused.within("row_data"))
        return addresses[0]

    async def _request(self, url: str, address: str) -> tuple[str | None, bytes]:
        """GET ``url`` at ``address``: (the Location of a redirect, b"") or (None, body)."""
        parts = urlsplit(url)
        host = parts.hostname or ""
        ip_host = f"[{address}]" if ipaddress.ip_address(address).version == 6 else address
        netloc = ip_host if parts.port is None else f"{ip_host}:{parts.port}"
        pinned = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
        host_header = host if parts.port is None else f"{host}:{parts.port}"
        extensions = {"sni_hostname": host} if parts.scheme.lower() == "https" else {}
        try:
            async with self._client.stream(
                "GET", pinned, headers={"Host": host_header}, extensions=extensions
            ) as response:
                if response.status_code in _REDIRECTS:
                    location = response.headers.get("location")
                    if not location:
                        raise _refused(IngestErrorCode.FETCH_FAILED, "redirect without Location")
                    return location, b""
                if response.status_code != 200:
                    raise _refused(
                        IngestErrorCode.FETCH_FAILED,
                        f"fetching {url} answered HTTP {response.status_code}",
                    )
                declared = response.headers.get("content-length")
                if declared is not None and declared.isdigit() and int(declared) > self.max_bytes:
                    raise self._too_large(url)
                body = bytearray()
                async for piece in response.aiter_bytes():
                    body += piece
                    if len(body) > self.max_bytes:
                        raise self._too_large(url)
                return None, bytes(body)
        except httpx.HTTPError as exc:
            raise _refused(
                IngestErrorCode.FETCH_FAILED, f"fetching {url} failed: {type(exc).__name__}"
            ) from None

    def _too_large(self, url: str) -> FetchRefused:
        return _refused(
            IngestErrorCode.RESPONSE_TOO_LARGE,
            f"the document at {url} is larger than {self.max_bytes} bytes",
        )
