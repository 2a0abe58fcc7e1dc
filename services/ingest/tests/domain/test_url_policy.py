"""The URL policy: schemes, names, IPv4, IPv6, IPv4 embedded in IPv6, the allow list."""

from __future__ import annotations

import pytest

from preflog_ingest.domain import check_url

ALLOWED = [
    "https://example.org/rows.json",
    "http://example.org:8080/a?b=c",
    "https://8.8.8.8/x",
    "https://[2001:4860:4860::8888]/x",
    "HTTPS://Example.ORG/x",
]


@pytest.mark.parametrize("url", ALLOWED)
def test_public_urls_are_allowed(url: str) -> None:
    assert check_url(url) is None


BAD_URLS = [
    "file:///etc/passwd",
    "ftp://example.org/a",
    "gopher://example.org/",
    "javascript:alert(1)",
    "data:text/plain,hi",
    "example.org/rows.json",
    "http:///nohost",
    "http://example.org:99999/",
    "http://[::1/",
]


@pytest.mark.parametrize("url", BAD_URLS)
def test_bad_urls(url: str) -> None:
    error = check_url(url)
    assert error is not None and error.code == "BAD_URL", (url, error)


BLOCKED_LITERALS = [
    "http://127.0.0.1/",
    "http://127.1/",
    "http://2130706433/",
    "http://0x7f000001/",
    "http://0.0.0.0/",
    "http://10.0.0.5/",
    "http://172.16.3.4/",
    "http://192.168.1.1/",
    "http://100.64.0.1/",
    "http://169.254.169.254/latest/meta-data/",
    "http://224.0.0.1/",
    "http://240.0.0.1/",
    "http://255.255.255.255/",
    "http://[::1]/",
    "http://[::]/",
    "http://[fe80::1]/",
    "http://[fc00::1]/",
    "http://[fd12:3456::1]/",
    "http://[fec0::1]/",
    "http://[ff02::1]/",
    "http://[::ffff:127.0.0.1]/",
    "http://[::ffff:169.254.169.254]/",
    "http://[::ffff:a9fe:a9fe]/",
    "http://[::ffff:10.0.0.1]/",
    "http://[64:ff9b::a9fe:a9fe]/",
    "http://[2002:a9fe:a9fe::1]/",
    "http://[::127.0.0.1]/",
    "http://localhost/",
    "http://LOCALHOST./",
    "http://app.localhost/",
    "http://metadata/computeMetadata/v1/",
    "http://metadata.google.internal/computeMetadata/v1/",
    "http://user@169.254.169.254/",
    "http://example.org@127.0.0.1/",
]


@pytest.mark.parametrize("url", BLOCKED_LITERALS)
def test_forbidden_hosts_are_refused_without_resolution(url: str) -> None:
    error = check_url(url)
    assert error is not None and error.code == "BLOCKED_ADDRESS", (url, error)


RESOLVED = [
    (["127.0.0.1"], "loopback"),
    (["93.184.216.34", "10.1.2.3"], "private"),
    (["169.254.169.254"], "link-local"),
    (["::ffff:192.168.0.1"], "private"),
    (["fd00::1"], "private"),
    (["::1"], "loopback"),
    (["not-an-ip"], "not an IP address"),
]


@pytest.mark.parametrize(("addresses", "reason"), RESOLVED)
def test_names_resolving_to_forbidden_addresses_are_refused(
    addresses: list[str], reason: str
) -> None:
    error = check_url("https://innocent.example.org/a.json", addresses)
    assert error is not None and error.code == "BLOCKED_ADDRESS"
    assert reason in error.message


def test_names_resolving_to_public_addresses_are_allowed() -> None:
    assert check_url("https://example.org/", ["93.184.216.34", "2606:2800:220:1::1"]) is None


def test_allow_list_permits_a_host_the_policy_would_refuse() -> None:
    assert check_url("http://127.0.0.1:8000/a.json", ["127.0.0.1"], {"127.0.0.1"}) is None
    assert check_url("http://files.internal/a", ["10.0.0.7"], {"FILES.internal"}) is None
    assert check_url("http://metadata/", [], {"metadata"}) is None
    # The allow list names hosts, not schemes: file:// stays refused.
    error = check_url("file:///etc/passwd", [], {"localhost", ""})
    assert error is not None and error.code == "BAD_URL"
    # Another host is still judged.
    error = check_url("http://10.0.0.8/", [], {"files.internal"})
    assert error is not None and error.code == "BLOCKED_ADDRESS"
