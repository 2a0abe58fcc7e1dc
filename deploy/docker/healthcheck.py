#!/app/.venv/bin/python
"""Container health check of the preflog image: GET /healthz of the preflog process here.

Installed in the image as ``preflog-healthcheck``. With a URL argument it checks that URL;
without one it finds the running ``preflog`` command in ``/proc`` and derives the port from
the same settings the process reads, so the image's HEALTHCHECK is right for every service.
Exit status 0 means healthy (HTTP 200), 1 means not.
"""

from __future__ import annotations

import os
import sys
import urllib.error
import urllib.request
from collections.abc import Mapping, Sequence
from pathlib import Path

from preflog_settings import load_settings

# Hosts that mean "every interface" or loopback: the check then dials loopback.
_LOCAL_HOSTS = frozenset({"", "0.0.0.0", "::", "127.0.0.1", "localhost", "::1"})


def health_url(preflog_args: Sequence[str], environ: Mapping[str, str]) -> str:
    """The /healthz URL of a process started as ``preflog <preflog_args...>``.

    ``preflog up`` and ``preflog serve gateway`` answer on PREFLOG_HTTP_PORT; every other
    ``preflog serve <service>`` answers on PREFLOG_SERVICE_HTTP_PORT. Raises ValueError for a
    command that serves no HTTP (e.g. ``preflog migrate``).
    """
    settings = load_settings(environ)
    host = "127.0.0.1" if settings.http_host in _LOCAL_HOSTS else settings.http_host
    args = list(preflog_args)
    if args[:1] == ["up"] or args[:2] == ["serve", "gateway"]:
        port = settings.http_port
    elif len(args) >= 2 and args[0] == "serve":
        port = settings.service_http_port
    else:
        raise ValueError(f"preflog {' '.join(args)} serves no health endpoint")
    if ":" in host:
        host = f"[{host}]"
    return f"http://{host}:{port}/healthz"


def running_preflog_args(proc: Path = Path("/proc")) -> list[str]:
    """Arguments after ``preflog`` of the first process in ``proc`` running the preflog CLI."""
    for cmdline in sorted(proc.glob("[0-9]*/cmdline")):
        try:
            argv = cmdline.read_bytes().split(b"\0")
        except OSError:  # the process ended while we looked
            continue
        words = [w.decode(errors="replace") for w in argv if w]
        for i, word in enumerate(words):
            if Path(word).name == "preflog":
                return words[i + 1 :]
    raise LookupError("no preflog process found")


def main(argv: Sequence[str]) -> int:
    """Check the URL in ``argv[1]``, or the one of the running preflog process."""
    try:
        url = argv[1] if len(argv) > 1 else health_url(running_preflog_args(), os.environ)
        with urllib.request.urlopen(url, timeout=3) as response:
            healthy = response.status == 200
    except (OSError, ValueError, LookupError, urllib.error.URLError) as error:
        print(f"unhealthy: {error}", file=sys.stderr)
        return 1
    if not healthy:
        print(f"unhealthy: {url} answered {response.status}", file=sys.stderr)
    return 0 if healthy else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv))
