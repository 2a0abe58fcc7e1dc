"""The demo data: loaded on the first start of an empty database (``load_demo``), through the
services, and visible through GraphQL as a new user would explore it."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
import uuid
from collections.abc import AsyncIterator
from importlib import resources
from typing import Any

import pytest
import pytest_asyncio

from preflog_eventstore import create_database, drop_database
from preflog_gateway.demo import DATASET_NAME, PROJECT_NAME, DemoLoader, identity_of
from preflog_messaging import connect, delete_namespace_streams
from preflog_testing.infra import Infra

from .conftest import Server, running_gateway
from .flows import FIXTURES, data_of, eventually

VENDORED = {
    "import_file_inline.json": "labelbox/import_file_inline.json",
    "v1_image.json": "labelbox/v1_image.json",
    "v2_model_chat.json": "labelbox/v2_model_chat.json",
    "feedback_questions.json": "dataloop/feedback_questions.json",
}

OVERVIEW = """{ datasets { id name dataRowCount }
  projects { id name qualityMode consensusLabelCount
    ontology { format questions { id kind scope required } }
    members { role user { email } }
    progress { toLabel inReview done }
    tasks(first: 50) { edges { node { id status
      labels { status author { email } crowns { responseId } answers { questionId value }
               reviews { decision } } } } } } }"""


@pytest_asyncio.fixture(scope="module", loop_scope="session")
async def first_run(infra: Infra, template_database: str) -> AsyncIterator[Server]:
    async with running_gateway(infra, template_database, services=True, load_demo=True) as s:
        yield s


def test_vendored_demo_files_match_the_fixtures() -> None:
    if not FIXTURES.is_dir():
        pytest.skip(f"no shared fixtures at {FIXTURES} to compare with")
    data = resources.files("preflog_gateway.demo_data")
    for name, origin in VENDORED.items():
        assert data.joinpath(name).read_bytes() == (FIXTURES / origin).read_bytes(), name


async def test_first_start_loads_the_demo(first_run: Server) -> None:
    greeting = "\n".join(first_run.greeting)
    assert DATASET_NAME in greeting and PROJECT_NAME in greeting, greeting
    assert "approved task: None" not in greeting

    async def settled() -> dict[str, Any] | None:
        # The read models fold the demo's events asynchronously; wait for its last one.
        data = data_of(await first_run.gql(OVERVIEW))
        statuses = [
            label["status"]
            for p in data["projects"]
            for e in p["tasks"]["edges"]
            for label in e["node"]["labels"]
        ]
        return data if sorted(statuses) == ["APPROVED", "APPROVED", "DRAFT"] else None

    data = await eventually(settled, "the demo's labels in the read models")
    [dataset] = [d for d in data["datasets"] if d["name"] == DATASET_NAME]
    assert dataset["dataRowCount"] == 5
    [project] = [p for p in data["projects"] if p["name"] == PROJECT_NAME]
    assert project["qualityMode"] == "CONSENSUS" and project["consensusLabelCount"] == 2
    assert project["ontology"]["format"] == "DATALOOP"
    kinds = {q["id"]: q["kind"] for q in project["ontology"]["questions"]}
    assert kinds == {
        "helpfulness": "SCALE",
        "issues": "CHECKLIST",
        "tone": "RADIO",
        "safe": "YES_NO",
        "notes": "TEXT",
    }
    roles = {m["user"]["email"]: m["role"] for m in project["members"]}
    assert roles["reviewer@demo.preflog.local"] == "REVIEWER"
    assert roles["annotator1@demo.preflog.local"] == "ANNOTATOR"

    tasks = [e["node"] for e in project["tasks"]["edges"]]
    assert len(tasks) == 5
    [done] = [t for t in tasks if t["status"] == "DONE"]
    assert {label["author"]["email"] for label in done["labels"]} == {
        "annotator1@demo.preflog.local",
        "annotator2@demo.preflog.local",
    }
    for label in done["labels"]:
        assert label["status"] == "APPROVED"
        assert [r["decision"] for r in label["reviews"]] == ["APPROVED"]
        assert label["crowns"] and {"questionId": "safe", "value": True} in label["answers"]
    drafts = [
        label
        for t in tasks
        if t["status"] == "TO_LABEL"
        for label in t["labels"]
        if label["status"] == "DRAFT"
    ]
    assert len(drafts) == 1


async def test_loading_the_demo_again_adds_nothing(first_run: Server) -> None:
    accounts = first_run.parts.accounts
    admin = await accounts.find_user_by_email(first_run.runtime.settings.bootstrap_admin_email)
    assert admin is not None
    again = await DemoLoader(first_run.runtime, accounts, identity_of(admin)).load()
    assert again.already_loaded
    datasets = data_of(await first_run.gql("{ datasets { name } }"))["datasets"]
    assert [d["name"] for d in datasets].count(DATASET_NAME) == 1


async def test_preflog_demo_command_loads_once(infra: Infra, template_database: str) -> None:
    """``preflog demo`` on an empty database with no service running: it bootstraps, runs
    the services itself, loads the demo; a second run reports it is already there."""
    name = f"preflog_demo_{uuid.uuid4().hex[:10]}"
    dsn = await create_database(infra.admin_dsn, name, template=template_database)
    env = {
        **os.environ,
        "PREFLOG_DATABASE_URL": dsn,
        "PREFLOG_NATS_URL": infra.nats_url,
        "PREFLOG_NAMESPACE": f"demo{uuid.uuid4().hex[:8]}",
        "PREFLOG_BOOTSTRAP_TOKEN": "pfl_demo_" + uuid.uuid4().hex,
        "PREFLOG_LOG_FORMAT": "json",
        "PREFLOG_LOG_LEVEL": "warning",
    }
    try:
        first = await _preflog(env, "demo")
        assert first.returncode == 0, first.stderr
        assert "Created organization" in first.stdout
        assert DATASET_NAME in first.stdout and PROJECT_NAME in first.stdout
        assert "5 conversations" in first.stdout and "approved task: None" not in first.stdout
        again = await _preflog(env, "demo")
        assert again.returncode == 0, again.stderr
        assert "already loaded" in again.stdout and "Created organization" not in again.stdout
    finally:
        nc = await connect(infra.nats_url)
        await delete_namespace_streams(nc.jetstream(), env["PREFLOG_NAMESPACE"])
        await nc.close()
        await drop_database(infra.admin_dsn, name)


async def _preflog(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "preflog_cli.main", *args]
    return await asyncio.to_thread(
        subprocess.run, command, env=env, capture_output=True, text=True, timeout=300
    )
