"""deploy/docker/healthcheck.py: the image's health check finds the right port."""

from __future__ import annotations

import importlib.util
import socket
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from types import ModuleType

import pytest

from preflog_settings import SERVICES, Settings

SCRIPT = Path(__file__).resolve().parents[2] / "deploy" / "docker" / "healthcheck.py"


@pytest.fixture(scope="module")
def healthcheck() -> ModuleType:
    spec = importlib.util.spec_from_file_location("preflog_healthcheck", SCRIPT)
    assert spec and spec.loader
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_is_checked_on_the_port_the_settings_give_it(
    healthcheck: ModuleType, name: str
) -> None:
    defaults = Settings()
    port = defaults.http_port if name == "gateway" else defaults.service_http_port
    assert healthcheck.health_url(["serve", name], {}) == f"http://127.0.0.1:{port}/healthz"


def test_preflog_up_is_checked_on_the_gateway_port(healthcheck: ModuleType) -> None:
    url = healthcheck.health_url(["up"], {"PREFLOG_HTTP_PORT": "18080"})
    assert url == "http://127.0.0.1:18080/healthz"


def test_environment_overrides_are_honoured(healthcheck: ModuleType) -> None:
    env = {"PREFLOG_SERVICE_HTTP_PORT": "9200", "PREFLOG_HTTP_HOST": "0.0.0.0"}
    assert healthcheck.health_url(["serve", "review"], env) == "http://127.0.0.1:9200/healthz"
    env = {"PREFLOG_HTTP_HOST": "10.1.2.3"}
    assert healthcheck.health_url(["serve", "gateway"], env).startswith("http://10.1.2.3:")
    env = {"PREFLOG_HTTP_HOST": "fd00::1"}
    assert healthcheck.health_url(["serve", "gateway"], env).startswith("http://[fd00::1]:")


def test_a_command_without_http_is_not_healthy(healthcheck: ModuleType) -> None:
    with pytest.raises(ValueError):
        healthcheck.health_url(["migrate"], {})


def _fake_proc(root: Path, processes: dict[int, list[str]]) -> Path:
    for pid, argv in processes.items():
        (root / str(pid)).mkdir(parents=True)
        (root / str(pid) / "cmdline").write_bytes(b"\0".join(a.encode() for a in argv) + b"\0")
    (root / "self").mkdir()  # not a pid: ignored
    return root


def test_the_running_command_is_found_behind_tini(healthcheck: ModuleType, tmp_path: Path) -> None:
    proc = _fake_proc(
        tmp_path,
        {
            1: ["/usr/bin/tini", "--", "preflog", "serve", "ingest"],
            7: ["/app/.venv/bin/python", "/app/.venv/bin/preflog", "serve", "ingest"],
        },
    )
    assert healthcheck.running_preflog_args(proc) == ["serve", "ingest"]


def test_no_preflog_process_is_an_error(healthcheck: ModuleType, tmp_path: Path) -> None:
    proc = _fake_proc(tmp_path, {1: ["/bin/sh"]})
    with pytest.raises(LookupError):
        healthcheck.running_preflog_args(proc)


class _Handler(BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/healthz" else 404)
        self.end_headers()

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def server() -> Iterator[HTTPServer]:
    httpd = HTTPServer(("127.0.0.1", 0), _Handler)
    thread = threading.Thread(target=httpd.serve_forever, daemon=True)
    thread.start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


def test_main_reports_healthy_and_unhealthy(
    healthcheck: ModuleType, server: HTTPServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    url = f"http://127.0.0.1:{server.server_address[1]}/healthz"
    assert healthcheck.main(["preflog-healthcheck", url]) == 0
    monkeypatch.setattr(_Handler, "status", 503)
    assert healthcheck.main(["preflog-healthcheck", url]) == 1
    missing = f"http://127.0.0.1:{server.server_address[1]}/nope"
    assert healthcheck.main(["preflog-healthcheck", missing]) == 1


def test_main_reports_a_refused_connection_as_unhealthy(healthcheck: ModuleType) -> None:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    # nothing listens on that port any more
    assert healthcheck.main(["preflog-healthcheck", f"http://127.0.0.1:{port}/healthz"]) == 1
