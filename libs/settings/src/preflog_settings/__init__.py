"""One settings object for every process, read from ``PREFLOG_*`` environment variables.

Each field ``foo_bar`` is read from ``PREFLOG_FOO_BAR``. Defaults are safe for a laptop.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any

import msgspec

SERVICES = ("ingest", "labeling", "review", "export", "gateway")


class Settings(msgspec.Struct, frozen=True, kw_only=True):
    # Where the system's state lives. Empty means: local default if reachable, else embedded.
    database_url: str = ""
    nats_url: str = ""
    # Prefix of every NATS subject and stream, so several installations (or test runs) can
    # share one NATS server without seeing each other's messages.
    namespace: str = "preflog"
    data_dir: str = ".preflog"
    # HTTP
    http_host: str = "127.0.0.1"
    http_port: int = 8080
    # Health/metrics port of a service run alone with ``preflog serve <service>``.
    service_http_port: int = 9100
    max_body_bytes: int = 64 * 1024 * 1024
    # Logging: "json", "console", or "auto" (console on a terminal).
    log_format: str = "auto"
    log_level: str = "info"
    # Service calls
    rpc_timeout_seconds: float = 10.0
    internal_secret: str = "preflog-dev-internal-secret"
    # Database pool
    db_pool_min: int = 2
    db_pool_max: int = 10
    # Bootstrap
    bootstrap_token: str = ""
    bootstrap_admin_email: str = "admin@preflog.local"
    bootstrap_org_name: str = "Preflog"
    load_demo: bool = True
    # Ingest limits
    max_messages_per_row: int = 250
    max_message_chars: int = 10_000
    url_fetch_concurrency: int = 16
    url_fetch_timeout_seconds: float = 10.0
    url_fetch_max_bytes: int = 5 * 1024 * 1024
    url_allow_hosts: str = ""  # comma-separated hosts allowed despite being private/loopback
    # Labeling
    lease_seconds: int = 1800
    # Gateway limits
    rate_limit_per_minute: int = 6000
    max_query_depth: int = 10
    max_query_complexity: int = 5000
    max_page_size: int = 500


def env_var(field: str) -> str:
    return "PREFLOG_" + field.upper()


def env_vars() -> set[str]:
    """Every environment variable the settings read (deployment files are checked against it)."""
    return {env_var(f) for f in Settings.__struct_fields__}


def load_settings(environ: Mapping[str, str] | None = None, **overrides: Any) -> Settings:
    """Read settings from ``environ`` (default ``os.environ``); ``overrides`` win over both."""
    env = os.environ if environ is None else environ
    raw: dict[str, Any] = {}
    for field in Settings.__struct_fields__:
        value = env.get(env_var(field))
        if value is not None:
            raw[field] = value
    settings = msgspec.convert(raw, Settings, strict=False)
    return msgspec.structs.replace(settings, **overrides) if overrides else settings
