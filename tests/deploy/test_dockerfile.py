"""deploy/docker/Dockerfile and .dockerignore, parsed (no Docker engine here)."""

from __future__ import annotations

import fnmatch
import json
import re
import tomllib
from pathlib import Path

import pytest

from preflog_settings import SERVICES, Settings, env_vars

REPO_ROOT = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO_ROOT / "deploy" / "docker" / "Dockerfile"

Instruction = tuple[str, str]


def _instructions() -> list[Instruction]:
    """(KEYWORD, arguments) per instruction, continuation lines joined, comments dropped."""
    logical: list[str] = []
    pending = ""
    for line in DOCKERFILE.read_text().splitlines():
        if line.lstrip().startswith("#") or not line.strip():
            continue
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        logical.append(pending + line.strip())
        pending = ""
    result = []
    for text in logical:
        keyword, _, args = text.partition(" ")
        result.append((keyword.upper(), args.strip()))
    return result


def _stages() -> list[list[Instruction]]:
    stages: list[list[Instruction]] = []
    for keyword, args in _instructions():
        if keyword == "FROM":
            stages.append([])
        if stages:
            stages[-1].append((keyword, args))
    return stages


def _last(stage: list[Instruction], keyword: str) -> str:
    values = [args for kw, args in stage if kw == keyword]
    assert values, f"no {keyword} in the final stage"
    return values[-1]


def test_it_is_multi_stage_with_a_named_builder_and_runtime() -> None:
    stages = _stages()
    assert len(stages) >= 2
    names = [re.search(r"\bAS\s+(\S+)", s[0][1], re.IGNORECASE) for s in stages]
    assert [m[1] if m else None for m in names] == ["builder", "runtime"]
    runtime = stages[-1]
    assert any(
        kw == "COPY" and "--from=builder" in args and "/app/.venv" in args for kw, args in runtime
    ), "the runtime stage takes the virtualenv from the builder"
    assert not any(kw == "RUN" and re.search(r"\buv\b", args) for kw, args in runtime), (
        "uv is a build tool: it stays in the builder"
    )


def test_the_builder_installs_exactly_the_lock_file_with_uv() -> None:
    builder = _stages()[0]
    runs = " ".join(args for kw, args in builder if kw == "RUN")
    assert re.search(r'pip install [^&]*"?uv==\$\{UV_VERSION\}', runs)
    sync = re.search(r"uv sync ([^&]*)", runs)
    assert sync, "uv sync missing"
    flags = sync[1].split()
    assert {"--frozen", "--no-dev"} <= set(flags)
    args = {kw: a for kw, a in builder if kw == "ARG" and a.startswith("UV_VERSION=")}
    assert re.fullmatch(r"UV_VERSION=\d+\.\d+\.\d+", args["ARG"]), "pin uv exactly"


def test_the_base_image_python_matches_the_workspace() -> None:
    requires = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"][
        "requires-python"
    ]
    minor = re.search(r">=\s*3\.(\d+)", requires)[1]  # type: ignore[index]
    image = next(a for kw, a in _instructions() if kw == "ARG" and a.startswith("PYTHON_IMAGE="))
    assert re.search(rf"python:3\.{minor}-slim", image)


def test_the_runtime_runs_as_a_non_root_numeric_user() -> None:
    user = _last(_stages()[-1], "USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, user


def test_entrypoint_is_preflog_and_the_default_command_serves_a_service() -> None:
    runtime = _stages()[-1]
    entrypoint = json.loads(_last(runtime, "ENTRYPOINT"))
    command = json.loads(_last(runtime, "CMD"))
    assert Path(entrypoint[-1]).name == "preflog"
    assert command[0] == "serve" and command[1] in SERVICES


def test_healthcheck_uses_the_bundled_script() -> None:
    runtime = _stages()[-1]
    assert "preflog-healthcheck" in _last(runtime, "HEALTHCHECK")
    copies = [a for kw, a in _stages()[0] if kw == "COPY" and "preflog-healthcheck" in a]
    assert copies and "deploy/docker/healthcheck.py" in copies[0]


def test_environment_and_ports_match_the_settings() -> None:
    runtime = _stages()[-1]
    env_text = " ".join(a for kw, a in runtime if kw == "ENV")
    image_env = dict(re.findall(r"(\w+)=(\"[^\"]*\"|\S+)", env_text))
    preflog = {k for k in image_env if k.startswith("PREFLOG_")}
    assert preflog <= env_vars(), sorted(preflog - env_vars())
    assert image_env["PREFLOG_HTTP_HOST"] == "0.0.0.0"
    exposed = {int(p) for kw, a in runtime if kw == "EXPOSE" for p in a.split()}
    defaults = Settings()
    assert exposed == {defaults.http_port, defaults.service_http_port}


def _ignore_patterns() -> list[str]:
    lines = (REPO_ROOT / ".dockerignore").read_text().splitlines()
    return [line.strip() for line in lines if line.strip() and not line.startswith("#")]


def _ignored(path: str, patterns: list[str]) -> bool:
    parts = Path(path).parts
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    return any(
        fnmatch.fnmatch(prefix, pattern.removeprefix("**/")) or fnmatch.fnmatch(prefix, pattern)
        for pattern in patterns
        for prefix in prefixes
    )


@pytest.mark.parametrize("source", ["pyproject.toml", "uv.lock", "libs", "services"])
def test_what_the_build_copies_exists_and_is_not_ignored(source: str) -> None:
    copied = " ".join(a for kw, a in _stages()[0] if kw == "COPY")
    assert re.search(rf"(^|\s){re.escape(source)}/?(\s|$)", copied), source
    assert (REPO_ROOT / source).exists()
    assert not _ignored(source, _ignore_patterns())
    assert not _ignored("deploy/docker/healthcheck.py", _ignore_patterns())


def test_local_state_and_secrets_stay_out_of_the_build_context() -> None:
    patterns = _ignore_patterns()
    for path in (".venv", ".git", ".env", ".preflog", "services/ingest/tests"):
        assert _ignored(path, patterns), path
