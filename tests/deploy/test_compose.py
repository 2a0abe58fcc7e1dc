"""docker-compose.yml against the code: services, settings, ports, volumes, schema."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import pytest
import yaml

from preflog_settings import SERVICES, Settings, env_vars, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
NATS_CONF = REPO_ROOT / "deploy" / "nats" / "nats-server.conf"
INFRA = {"postgres", "nats", "migrate"}


def _environment(service: Mapping[str, Any]) -> dict[str, str]:
    env = service.get("environment") or {}
    if isinstance(env, list):  # KEY=VALUE form
        env = dict(item.split("=", 1) for item in env)
    return {str(k): "" if v is None else str(v) for k, v in env.items()}


def _settings_of(service: Mapping[str, Any]) -> Settings:
    return load_settings(_environment(service))


def test_compose_file_is_valid_against_the_compose_spec_schema(
    compose_raw: dict[str, Any],
) -> None:
    schema = json.loads((REPO_ROOT / "deploy" / "schemas" / "compose-spec.json").read_text())
    validator_class = jsonschema.validators.validator_for(schema)
    validator_class.check_schema(schema)
    errors = sorted(validator_class(schema).iter_errors(compose_raw), key=str)
    assert not errors, "\n".join(f"{list(e.absolute_path)}: {e.message}" for e in errors)


def test_every_service_of_the_code_and_the_infrastructure_is_there(
    compose: dict[str, Any],
) -> None:
    assert set(compose["services"]) == set(SERVICES) | INFRA


@pytest.mark.parametrize("name", SERVICES)
def test_each_service_runs_preflog_serve_with_its_name(compose: dict[str, Any], name: str) -> None:
    service = compose["services"][name]
    assert service["command"] == ["serve", name]
    # the image's ENTRYPOINT is preflog; a service must not replace it
    assert "entrypoint" not in service


def test_migrate_is_a_one_shot_preflog_migrate(compose: dict[str, Any]) -> None:
    migrate = compose["services"]["migrate"]
    assert migrate["command"] == ["migrate"]
    assert migrate["restart"] == "no"
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert migrate["image"] == compose["services"]["gateway"]["image"]


def test_every_preflog_variable_is_one_the_settings_read(
    compose_raw: dict[str, Any], preflog_variables: Callable[[Any], set[str]]
) -> None:
    known = env_vars()
    used = preflog_variables(compose_raw)
    example = (REPO_ROOT / "deploy" / "docker" / "compose.env.example").read_text()
    used |= set(re.findall(r"^(PREFLOG_[A-Z0-9_]+)=", example, re.MULTILINE))
    assert used, "expected PREFLOG_* variables in docker-compose.yml"
    assert used <= known, f"not read by preflog_settings: {sorted(used - known)}"


@pytest.mark.parametrize("name", [*SERVICES, "migrate"])
def test_each_preflog_container_environment_loads_into_settings(
    compose: dict[str, Any], name: str
) -> None:
    settings = _settings_of(compose["services"][name])
    assert settings.database_url.startswith("postgresql://")
    assert settings.nats_url.startswith("nats://")
    assert settings.log_format == "json"
    # bound to all interfaces, or nothing outside the container reaches it
    assert settings.http_host == "0.0.0.0"
    assert settings.internal_secret != Settings().internal_secret, "dev default secret in use"


def test_secrets_must_be_provided_not_defaulted(
    compose_raw: dict[str, Any], interpolate_fn: Callable[..., str]
) -> None:
    env = compose_raw["services"]["gateway"]["environment"]
    for key in ("PREFLOG_DATABASE_URL", "PREFLOG_INTERNAL_SECRET"):
        with pytest.raises(KeyError):
            interpolate_fn(env[key], {})


def _healthcheck_url(service: Mapping[str, Any]) -> str:
    test = service["healthcheck"]["test"]
    urls = [part for part in test if isinstance(part, str) and part.startswith("http://")]
    assert len(urls) == 1, test
    return urls[0]


@pytest.mark.parametrize("name", SERVICES)
def test_healthchecks_hit_healthz_on_the_port_the_settings_serve(
    compose: dict[str, Any], name: str
) -> None:
    service = compose["services"][name]
    settings = _settings_of(service)
    url = urlsplit(_healthcheck_url(service))
    expected = settings.http_port if name == "gateway" else settings.service_http_port
    assert url.path == "/healthz"
    assert url.port == expected
    assert url.hostname == "127.0.0.1"


def test_ports_match_the_settings_defaults_and_the_gateway_is_published(
    compose: dict[str, Any],
) -> None:
    defaults = Settings()
    gateway = compose["services"]["gateway"]
    settings = _settings_of(gateway)
    assert settings.http_port == defaults.http_port
    assert settings.service_http_port == defaults.service_http_port
    container_ports = [int(str(p).rsplit(":", 1)[1].split("/")[0]) for p in gateway["ports"]]
    assert container_ports == [settings.http_port]
    for name in set(SERVICES) - {"gateway"}:
        assert "ports" not in compose["services"][name], f"{name} needs no published port"


@pytest.mark.parametrize("name", SERVICES)
def test_services_wait_for_migrate_and_healthy_infrastructure(
    compose: dict[str, Any], name: str
) -> None:
    depends = compose["services"][name]["depends_on"]
    assert depends["migrate"]["condition"] == "service_completed_successfully"
    assert depends["postgres"]["condition"] == "service_healthy"
    assert depends["nats"]["condition"] == "service_healthy"


@pytest.mark.parametrize("name", [*SERVICES, "postgres", "nats"])
def test_long_running_containers_restart_unless_stopped(compose: dict[str, Any], name: str) -> None:
    assert compose["services"][name]["restart"] == "unless-stopped"
    assert "healthcheck" in compose["services"][name]


def _named_mounts(service: Mapping[str, Any]) -> dict[str, str]:
    mounts = {}
    for volume in service.get("volumes", []):
        source, target = str(volume).split(":")[:2]
        if not source.startswith((".", "/")):
            mounts[source] = target
    return mounts


def test_state_lives_on_declared_named_volumes(
    compose: dict[str, Any], nats_conf: Callable[[Path, str], str]
) -> None:
    declared = set(compose["volumes"])
    referenced: set[str] = set()
    for service in compose["services"].values():
        referenced |= set(_named_mounts(service))
    assert referenced <= declared
    postgres = _named_mounts(compose["services"]["postgres"])
    assert "/var/lib/postgresql/data" in postgres.values()
    nats = _named_mounts(compose["services"]["nats"])
    assert nats_conf(NATS_CONF, "store_dir") in nats.values()


def test_postgres_is_15_or_newer_and_checked_with_pg_isready(compose: dict[str, Any]) -> None:
    postgres = compose["services"]["postgres"]
    major = int(re.match(r"postgres:(\d+)", postgres["image"])[1])  # type: ignore[index]
    assert major >= 15
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])
    url = urlsplit(_settings_of(compose["services"]["gateway"]).database_url)
    assert url.hostname == "postgres"
    assert url.username == postgres["environment"]["POSTGRES_USER"]
    assert url.path.lstrip("/") == postgres["environment"]["POSTGRES_DB"]
    assert url.password == postgres["environment"]["POSTGRES_PASSWORD"]


def test_postgres_has_room_for_every_pool(compose: dict[str, Any]) -> None:
    command = compose["services"]["postgres"]["command"]
    flags = dict(command[i + 1].split("=", 1) for i, part in enumerate(command) if part == "-c")
    pools = sum(
        _settings_of(compose["services"][name]).db_pool_max for name in [*SERVICES, "migrate"]
    )
    reserved = 3  # superuser_reserved_connections default
    assert pools + reserved <= int(flags["max_connections"])


def test_nats_runs_the_jetstream_config_and_is_checked_on_its_monitoring_port(
    compose: dict[str, Any], nats_conf: Callable[[Path, str], str]
) -> None:
    nats = compose["services"]["nats"]
    config_mounts = {
        target: source
        for source, target, *_ in (str(v).split(":") for v in nats["volumes"])
        if source.startswith("./")
    }
    config_path = nats["command"][nats["command"].index("-c") + 1]
    assert (REPO_ROOT / config_mounts[config_path]).resolve() == NATS_CONF
    monitor_port = int(nats_conf(NATS_CONF, "http").rsplit(":", 1)[1])
    url = urlsplit(_healthcheck_url(nats))
    assert (url.port, url.path) == (monitor_port, "/healthz")
    client_port = int(nats_conf(NATS_CONF, "listen").rsplit(":", 1)[1])
    nats_url = urlsplit(_settings_of(compose["services"]["gateway"]).nats_url)
    assert (nats_url.hostname, nats_url.port) == ("nats", client_port)


def test_compose_env_example_has_no_values(compose_raw: dict[str, Any]) -> None:
    """The example must not become a set of shared default secrets."""
    example = (REPO_ROOT / "deploy" / "docker" / "compose.env.example").read_text()
    values = dict(
        line.split("=", 1) for line in example.splitlines() if line and not line.startswith("#")
    )
    for secret in ("POSTGRES_PASSWORD", "PREFLOG_INTERNAL_SECRET"):
        assert values[secret] == ""
    assert yaml.safe_dump(compose_raw)  # the file round-trips as plain YAML
