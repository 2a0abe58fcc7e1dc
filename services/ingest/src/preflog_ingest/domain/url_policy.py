"""Which URLs the importer may fetch (a pure policy; the fetcher does the I/O).

Only ``http``/``https``. Refused: loopback, link-local (including the cloud metadata
address 169.254.169.254), private, shared (CGNAT), unique-local, site-local, multicast,
reserved and unspecified addresses, the same addresses embedded in IPv6 (IPv4-mapped,
IPv4-compatible, 6to4, Teredo, NAT64), legacy IPv4 spellings (``2130706433``,
``0x7f.1``), and the names ``localhost``, ``metadata`` and ``metadata.google.internal``.
A host in the operator's allow list is always permitted.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Collection, Iterable
from urllib.parse import urlsplit

from preflog_ingest.domain.row_errors import IngestErrorCode, RowError

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

BLOCKED_NAMES = frozenset({"localhost", "metadata", "metadata.google.internal"})
_NAT64 = ipaddress.IPv6Network("64:ff9b::/96")


def check_url(
    url: str,
    resolved_addresses: Iterable[str | IPAddress] = (),
    allow_hosts: Collection[str] = (),
) -> RowError | None:
    """Return why ``url`` may not be fetched, or None when it may.

    Call it before the first request with the addresses DNS returned for the host, and
    again for every redirect target. With no ``resolved_addresses`` only the URL itself is
    judged (scheme, literal IP host, forbidden names): a name that resolves to a private
    address passes that first check and must be checked again after resolution.
    The returned error has an empty ``path``; the caller knows which field held the URL.
    """
    try:
        parts = urlsplit(url.strip())
        host = (parts.hostname or "").rstrip(".").lower()
        _ = parts.port  # a malformed port raises here
    except ValueError as exc:
        return _bad_url(f"not a valid URL: {exc}")
    scheme = parts.scheme.lower()
    if scheme not in ("http", "https"):
        shown = scheme or "none"
        return _bad_url(f"URL scheme '{shown}' is not allowed; use http or https")
    if not host:
        return _bad_url("URL has no host")
    if host in {h.rstrip(".").lower() for h in allow_hosts}:
        return None
    if host in BLOCKED_NAMES or host.endswith(".localhost"):
        return _blocked(f"host '{host}' is not allowed")
    literal = host_address(host)
    if literal is not None:
        reason = refused_address_reason(literal)
        if reason is not None:
            return _blocked(f"host '{host}' is {reason}")
    for address in resolved_addresses:
        reason = refused_address_reason(address)
        if reason is not None:
            return _blocked(f"host '{host}' resolves to {address}, {reason}")
    return None


def host_address(host: str) -> IPAddress | None:
    """The IP address a URL host spells literally, including legacy IPv4 forms that
    resolvers accept (``127.1``, ``0x7f000001``, ``2130706433``); None for a name."""
    try:
        return ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        pass
    if all(c in "0123456789abcdefx." for c in host) and any(c.isdigit() for c in host):
        try:
            # inet_aton is pure parsing: it implements the historic a.b.c.d forms.
            return ipaddress.IPv4Address(socket.inet_aton(host))
        except OSError:
            return None
    return None


def refused_address_reason(address: str | IPAddress) -> str | None:
    """Why an address may not be contacted (``"a link-local address"``), or None."""
    try:
        ip = ipaddress.ip_address(address) if isinstance(address, str) else address
    except ValueError:
        return "not an IP address"
    if isinstance(ip, ipaddress.IPv6Address):
        embedded = _embedded_ipv4(ip)
        if embedded is not None:
            inner = refused_address_reason(embedded)
            return None if inner is None else f"{inner} (embedded in IPv6)"
    checks = (
        ("is_unspecified", "an unspecified address"),
        ("is_loopback", "a loopback address"),
        ("is_link_local", "a link-local address"),
        ("is_multicast", "a multicast address"),
        ("is_private", "a private address"),
        ("is_reserved", "a reserved address"),
    )
    for attribute, reason in checks:
        if getattr(ip, attribute):
            return reason
    if isinstance(ip, ipaddress.IPv6Address) and ip.is_site_local:
        return "a site-local address"
    if not ip.is_global:
        return "not a public address"
    return None


def _embedded_ipv4(ip: ipaddress.IPv6Address) -> ipaddress.IPv4Address | None:
    if ip.ipv4_mapped is not None:
        return ip.ipv4_mapped
    if ip.sixtofour is not None:
        return ip.sixtofour
    if ip.teredo is not None:
        return ip.teredo[1]
    if ip in _NAT64:
        return ipaddress.IPv4Address(int(ip) & 0xFFFFFFFF)
    # IPv4-compatible ::a.b.c.d (deprecated, still routed by some stacks); :: and ::1 are
    # left to the IPv6 checks.
    if int(ip) >> 32 == 0 and int(ip) > 1:
        return ipaddress.IPv4Address(int(ip))
    return None


def _bad_url(message: str) -> RowError:
    return RowError(code=IngestErrorCode.BAD_URL, path="", message=message)


def _blocked(message: str) -> RowError:
    return RowError(code=IngestErrorCode.BLOCKED_ADDRESS, path="", message=message)
