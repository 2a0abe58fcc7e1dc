"""Shared loading of the deployment files for tests/deploy (files only: no Docker, no cluster)."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import pytest
import yaml

REPO_ROOT = Path(__file__).resolve().parents[2]
DEPLOY = REPO_ROOT / "deploy"
K8S = DEPLOY / "k8s"

# What a filled-in .env provides (deploy/docker/compose.env.example lists these keys).
SAMPLE_DOTENV = {
    "POSTGRES_PASSWORD": "sample-password",
    "PREFLOG_INTERNAL_SECRET": "sample-internal-secret",
}

_INTERPOLATION = re.compile(
    r"\$(?:(?P<escaped>\$)|\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\})"
)


def interpolate(value: str, env: Mapping[str, str]) -> str:
    """Compose-style ``${VAR}``, ``${VAR:-default}``, ``${VAR-default}``, ``${VAR:?error}``,
    ``${VAR?error}`` and ``$$``. Raises KeyError for a required variable that is missing."""

    def substitute(match: re.Match[str]) -> str:
        if match["escaped"]:
            return "$"
        name, op, arg = match["name"], match["op"], match["arg"] or ""
        present = name in env and (env[name] != "" or not (op or "").startswith(":"))
        if op in (":?", "?") and not present:
            raise KeyError(f"{name}: {arg}")
        if op in (":-", "-") and not present:
            return arg
        return env.get(name, "")

    return _INTERPOLATION.sub(substitute, value)


def interpolation_names(value: str) -> set[str]:
    """Names of the variables a compose string refers to."""
    return {m["name"] for m in _INTERPOLATION.finditer(value) if m["name"]}


def walk_strings(node: Any) -> Iterator[str]:
    """Every string (keys and values) in a parsed YAML/JSON tree."""
    if isinstance(node, str):
        yield node
    elif isinstance(node, Mapping):
        for key, value in node.items():
            yield from walk_strings(key)
            yield from walk_strings(value)
    elif isinstance(node, list):
        for item in node:
            yield from walk_strings(item)


def resolve(node: Any, env: Mapping[str, str]) -> Any:
    """The tree with every string interpolated."""
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, Mapping):
        return {resolve(k, env): resolve(v, env) for k, v in node.items()}
    if isinstance(node, list):
        return [resolve(item, env) for item in node]
    return node


@pytest.fixture(scope="session")
def compose_raw() -> dict[str, Any]:
    """docker-compose.yml as YAML (anchors and merge keys applied, variables not)."""
    parsed: dict[str, Any] = yaml.safe_load((REPO_ROOT / "docker-compose.yml").read_text())
    return parsed


@pytest.fixture(scope="session")
def compose(compose_raw: dict[str, Any]) -> dict[str, Any]:
    """docker-compose.yml as Compose would see it with a filled-in .env."""
    resolved: dict[str, Any] = resolve(compose_raw, SAMPLE_DOTENV)
    return resolved


@pytest.fixture(scope="session")
def interpolate_fn() -> Callable[[str, Mapping[str, str]], str]:
    return interpolate


@pytest.fixture(scope="session")
def kustomization() -> dict[str, Any]:
    parsed: dict[str, Any] = yaml.safe_load((K8S / "kustomization.yaml").read_text())
    return parsed


@pytest.fixture(scope="session")
def k8s_objects(kustomization: dict[str, Any]) -> list[dict[str, Any]]:
    """Every object of the Kustomize base, in resource order, with the base's namespace set
    on namespaced objects (what ``kustomize build`` does for the features the base uses)."""
    objects: list[dict[str, Any]] = []
    for resource in kustomization["resources"]:
        path = K8S / resource
        for document in yaml.safe_load_all(path.read_text()):
            if not document:
                continue
            document.setdefault("metadata", {})
            if document["kind"] != "Namespace":
                document["metadata"].setdefault("namespace", kustomization["namespace"])
            document["metadata"]["_source"] = resource
            objects.append(document)
    return objects


def strip_source(obj: dict[str, Any]) -> dict[str, Any]:
    """The object without the test's bookkeeping key."""
    clean: dict[str, Any] = json.loads(json.dumps(obj))
    clean["metadata"].pop("_source", None)
    return clean


@pytest.fixture(scope="session")
def strip() -> Callable[[dict[str, Any]], dict[str, Any]]:
    return strip_source


@pytest.fixture(scope="session")
def stream_config() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads(
        (DEPLOY / "nats" / "preflog-events.stream.json").read_text()
    )
    return parsed


_DURATION = re.compile(r"^[-*\s]*Duplicate window:\s*(\d+)\s*(h|min|m|s)\b", re.MULTILINE)
_UNIT_SECONDS = {"h": 3600, "min": 60, "m": 60, "s": 1}


@pytest.fixture(scope="session")
def adr_duplicate_window_seconds() -> int:
    """The duplicate window the ADR commits to (its line ``Duplicate window: <n><unit>``)."""
    text = (REPO_ROOT / "docs" / "adr" / "0008-deployment.md").read_text()
    match = _DURATION.search(text)
    assert match, "docs/adr/0008-deployment.md must state 'Duplicate window: <n>h|m|s'"
    return int(match[1]) * _UNIT_SECONDS[match[2]]


def nats_conf_value(path: Path, key: str) -> str:
    """The value of a top-level or block ``key: value`` line in a nats-server config file
    (first occurrence; enough for the flat keys these tests read)."""
    for line in path.read_text().splitlines():
        stripped = line.split("#", 1)[0].strip()
        match = re.match(rf"^{re.escape(key)}\s*[:=]\s*(.+?)\s*$", stripped)
        if match:
            return match[1].strip("\"'")
    raise KeyError(f"{key} not in {path}")


@pytest.fixture(scope="session")
def nats_conf() -> Callable[[Path, str], str]:
    return nats_conf_value


def preflog_variables_in(node: Any) -> set[str]:
    """Every ``PREFLOG_*`` name a parsed tree mentions: as a word in a string or key, or as
    a ``${...}`` interpolation."""
    names: set[str] = set()
    for text in walk_strings(node):
        names |= set(re.findall(r"\bPREFLOG_[A-Z0-9_]+\b", text))
        names |= {n for n in interpolation_names(text) if n.startswith("PREFLOG_")}
    return names


@pytest.fixture(scope="session")
def preflog_variables() -> Callable[[Any], set[str]]:
    return preflog_variables_in
