"""deploy/k8s (Kustomize base) against the Kubernetes schemas and against the code."""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import jsonschema
import kubernetes_validate
import pytest
import yaml

from preflog_settings import SERVICES, Settings, env_vars, load_settings

REPO_ROOT = Path(__file__).resolve().parents[2]
K8S = REPO_ROOT / "deploy" / "k8s"
NATS_CLUSTER_CONF = REPO_ROOT / "deploy" / "nats" / "nats-cluster.conf"
# Oldest Kubernetes minor the base targets; kubernetes-validate ships its schemas offline.
K8S_VERSION = "1.30.0"
# Kinds that are not part of the Kubernetes API (validated against deploy/k8s/schemas/).
CRD_SCHEMAS = {("postgresql.cnpg.io/v1", "Cluster"): K8S / "schemas" / "cnpg-cluster.schema.json"}
PREFLOG_IMAGE = "preflog"


def _find(objects: list[dict[str, Any]], kind: str, name: str) -> dict[str, Any]:
    found = [o for o in objects if o["kind"] == kind and o["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind}/{name}, found {len(found)}"
    return found[0]


def _pod_templates(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for obj in objects:
        if obj["kind"] in ("Deployment", "StatefulSet", "Job"):
            yield f"{obj['kind']}/{obj['metadata']['name']}", obj["spec"]["template"]["spec"]


def _preflog_containers(objects: list[dict[str, Any]]) -> Iterator[tuple[str, dict[str, Any]]]:
    for where, pod in _pod_templates(objects):
        for container in pod["containers"]:
            if container["image"] == PREFLOG_IMAGE:
                yield where, container


def _configmap_env(objects: list[dict[str, Any]], container: dict[str, Any]) -> dict[str, str]:
    env: dict[str, str] = {}
    for source in container.get("envFrom", []):
        ref = source["configMapRef"]["name"]
        env.update(_find(objects, "ConfigMap", ref)["data"])
    return env


def _settings_for(objects: list[dict[str, Any]], container: dict[str, Any]) -> Settings:
    """What the container's process reads: ConfigMap env, literal env, and placeholders for
    values that come from Secrets."""
    env = _configmap_env(objects, container)
    for var in container.get("env", []):
        placeholder = "postgresql://u:p@h:5432/d" if "DATABASE" in var["name"] else "secret"
        env[var["name"]] = var.get("value", placeholder)
    return load_settings(env)


def _port_number(container: dict[str, Any], port: int | str) -> int:
    if isinstance(port, int):
        return port
    by_name: dict[str, int] = {p["name"]: p["containerPort"] for p in container.get("ports", [])}
    return by_name[port]


def test_kustomization_lists_every_manifest_and_only_existing_ones(
    kustomization: dict[str, Any],
) -> None:
    listed = set(kustomization["resources"])
    on_disk = {
        str(p.relative_to(K8S))
        for p in K8S.rglob("*.yaml")
        if p.name not in ("kustomization.yaml", "secret.example.yaml")
    }
    assert listed == on_disk
    assert "secret.example.yaml" not in listed, "a base must not ship credentials"
    assert kustomization["namespace"] == "preflog"
    assert [i["name"] for i in kustomization["images"]] == [PREFLOG_IMAGE]


def _standard_objects(objects: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [o for o in objects if (o["apiVersion"], o["kind"]) not in CRD_SCHEMAS]


def test_every_standard_object_is_valid_against_the_kubernetes_schema(
    k8s_objects: list[dict[str, Any]], strip: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    example = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    failures = []
    objects = [strip(o) for o in _standard_objects(k8s_objects)] + [example]
    for obj in objects:
        try:
            # strict: unknown fields are errors too (a misspelt field is silently ignored
            # by the API server otherwise)
            kubernetes_validate.validate(obj, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as error:
            path = ".".join(str(p) for p in error.path)
            failures.append(f"{obj['kind']}/{obj['metadata']['name']}: {path}: {error.message}")
    assert not failures, "\n".join(failures)
    assert len(objects) >= 20


def test_the_validator_rejects_a_broken_deployment(k8s_objects: list[dict[str, Any]]) -> None:
    """Guards the test above: the schemas are really applied, strictly."""
    deployment = json.loads(json.dumps(_find(k8s_objects, "Deployment", "preflog-gateway")))
    deployment["metadata"].pop("_source")
    deployment["spec"]["template"]["spec"]["containers"][0]["readinesProbe"] = {
        "httpGet": {"path": "/readyz", "port": 8080}
    }
    with pytest.raises(kubernetes_validate.ValidationError):
        kubernetes_validate.validate(deployment, K8S_VERSION, strict=True)


def test_custom_resources_are_valid_against_their_vendored_schemas(
    k8s_objects: list[dict[str, Any]], strip: Callable[[dict[str, Any]], dict[str, Any]]
) -> None:
    custom = [o for o in k8s_objects if (o["apiVersion"], o["kind"]) in CRD_SCHEMAS]
    assert custom, "expected the CloudNativePG Cluster"
    for obj in custom:
        schema = json.loads(CRD_SCHEMAS[(obj["apiVersion"], obj["kind"])].read_text())
        jsonschema.Draft202012Validator.check_schema(schema)
        jsonschema.Draft202012Validator(schema).validate(strip(obj))
        broken = strip(obj)
        broken["spec"]["instaces"] = 2  # a typo must not pass
        with pytest.raises(jsonschema.ValidationError):
            jsonschema.Draft202012Validator(schema).validate(broken)


def test_postgres_is_a_cloudnativepg_cluster_with_a_replica(
    k8s_objects: list[dict[str, Any]],
) -> None:
    cluster = _find(k8s_objects, "Cluster", "preflog-pg")
    assert cluster["apiVersion"] == "postgresql.cnpg.io/v1"
    assert cluster["spec"]["instances"] == 2
    assert cluster["spec"]["affinity"]["enablePodAntiAffinity"] is True
    major = int(re.search(r":(\d+)", cluster["spec"]["imageName"])[1])  # type: ignore[index]
    assert major >= 15


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_has_a_deployment_with_both_probes_on_its_port(
    k8s_objects: list[dict[str, Any]], name: str
) -> None:
    deployment = _find(k8s_objects, "Deployment", f"preflog-{name}")
    pod = deployment["spec"]["template"]["spec"]
    (container,) = pod["containers"]
    assert container["image"] == PREFLOG_IMAGE
    assert container["args"] == ["serve", name]
    assert "command" not in container, "the image's ENTRYPOINT (preflog) must stay"
    settings = _settings_for(k8s_objects, container)
    expected_port = settings.http_port if name == "gateway" else settings.service_http_port
    probes = {
        "readinessProbe": "/readyz",
        "livenessProbe": "/healthz",
        "startupProbe": "/healthz",
    }
    for probe, path in probes.items():
        http = container[probe]["httpGet"]
        assert http["path"] == path, probe
        assert _port_number(container, http["port"]) == expected_port, probe
    # the selector must select the pods it creates (the API server rejects it otherwise)
    selector = deployment["spec"]["selector"]["matchLabels"]
    labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert selector.items() <= labels.items()


@pytest.mark.parametrize("name", SERVICES)
def test_every_service_exposes_its_http_port_through_a_service(
    k8s_objects: list[dict[str, Any]], name: str
) -> None:
    deployment = _find(k8s_objects, "Deployment", f"preflog-{name}")
    service = _find(k8s_objects, "Service", f"preflog-{name}")
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    settings = _settings_for(k8s_objects, container)
    expected = settings.http_port if name == "gateway" else settings.service_http_port
    targets = [_port_number(container, p["targetPort"]) for p in service["spec"]["ports"]]
    assert targets == [expected]


def test_every_preflog_variable_is_one_the_settings_read(
    k8s_objects: list[dict[str, Any]],
) -> None:
    known = env_vars()
    for where, pod in _pod_templates(k8s_objects):
        for container in pod["containers"]:
            names = {v["name"] for v in container.get("env", [])}
            names |= set(_configmap_env(k8s_objects, container))
            preflog = {n for n in names if n.startswith("PREFLOG_")}
            assert preflog <= known, f"{where}: {sorted(preflog - known)}"
    # a preflog container gets nothing but settings
    for where, container in _preflog_containers(k8s_objects):
        names = {v["name"] for v in container.get("env", [])}
        names |= set(_configmap_env(k8s_objects, container))
        assert names <= known, f"{where}: {sorted(names - known)}"


def test_preflog_containers_get_a_working_configuration(
    k8s_objects: list[dict[str, Any]],
) -> None:
    nats_service = _find(k8s_objects, "Service", "preflog-nats")
    client_port = next(p["port"] for p in nats_service["spec"]["ports"] if p["name"] == "client")
    cluster = _find(k8s_objects, "Cluster", "preflog-pg")
    example = yaml.safe_load((K8S / "secret.example.yaml").read_text())
    for where, container in _preflog_containers(k8s_objects):
        settings = _settings_for(k8s_objects, container)
        assert settings.http_host == "0.0.0.0", f"{where}: probes could not reach the pod"
        assert settings.log_format == "json"
        nats = urlsplit(settings.nats_url)
        assert (nats.hostname, nats.port) == ("preflog-nats", client_port), where
        refs = {
            v["name"]: v["valueFrom"]["secretKeyRef"]
            for v in container.get("env", [])
            if "secretKeyRef" in v.get("valueFrom", {})
        }
        # CloudNativePG's generated app Secret, key uri = postgresql://...
        database = refs["PREFLOG_DATABASE_URL"]
        assert database == {"name": f"{cluster['metadata']['name']}-app", "key": "uri"}
        for ref in refs.values():
            if ref["name"] == example["metadata"]["name"]:
                assert ref["key"] in example["stringData"], f"{where}: {ref}"


def test_every_container_has_resource_requests_and_limits(
    k8s_objects: list[dict[str, Any]],
) -> None:
    for where, pod in _pod_templates(k8s_objects):
        for container in pod["containers"]:
            resources = container["resources"]
            assert {"cpu", "memory"} <= set(resources["requests"]), where
            assert "memory" in resources["limits"], where


def test_every_pod_meets_the_restricted_pod_security_standard(
    k8s_objects: list[dict[str, Any]],
) -> None:
    namespace = _find(k8s_objects, "Namespace", "preflog")
    assert namespace["metadata"]["labels"]["pod-security.kubernetes.io/enforce"] == "restricted"
    for where, pod in _pod_templates(k8s_objects):
        pod_security = pod.get("securityContext", {})
        assert pod_security.get("seccompProfile", {}).get("type") == "RuntimeDefault", where
        assert not pod.get("hostNetwork") and not pod.get("hostPID"), where
        for volume in pod.get("volumes", []):
            assert "hostPath" not in volume, where
        for container in pod["containers"]:
            security = container["securityContext"]
            non_root = security.get("runAsNonRoot", pod_security.get("runAsNonRoot"))
            assert non_root is True, where
            assert security.get("runAsUser", pod_security.get("runAsUser")) != 0, where
            assert security["allowPrivilegeEscalation"] is False, where
            assert security["capabilities"]["drop"] == ["ALL"], where
            assert security.get("readOnlyRootFilesystem") is True, where


def test_preflog_pods_run_as_the_images_user(k8s_objects: list[dict[str, Any]]) -> None:
    dockerfile = (REPO_ROOT / "deploy" / "docker" / "Dockerfile").read_text()
    uid = int(re.search(r"^USER\s+(\d+)", dockerfile, re.MULTILINE)[1])  # type: ignore[index]
    for where, pod in _pod_templates(k8s_objects):
        if any(c["image"] == PREFLOG_IMAGE for c in pod["containers"]):
            assert pod["securityContext"]["runAsUser"] == uid, where


def test_hpas_scale_the_gateway_and_labeling_deployments(
    k8s_objects: list[dict[str, Any]],
) -> None:
    hpas = [o for o in k8s_objects if o["kind"] == "HorizontalPodAutoscaler"]
    assert all(h["apiVersion"] == "autoscaling/v2" for h in hpas)
    targets = {h["spec"]["scaleTargetRef"]["name"] for h in hpas}
    assert targets == {"preflog-gateway", "preflog-labeling"}
    for hpa in hpas:
        ref = hpa["spec"]["scaleTargetRef"]
        assert (ref["apiVersion"], ref["kind"]) == ("apps/v1", "Deployment")
        deployment = _find(k8s_objects, "Deployment", ref["name"])
        assert 2 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
        scaled_on = {m["resource"]["name"] for m in hpa["spec"]["metrics"]}
        for container in deployment["spec"]["template"]["spec"]["containers"]:
            # a Utilization target needs a request for each resource it scales on
            assert scaled_on <= set(container["resources"]["requests"])


def test_postgres_max_connections_covers_every_pool_at_full_scale(
    k8s_objects: list[dict[str, Any]],
) -> None:
    max_replicas = {
        h["spec"]["scaleTargetRef"]["name"]: h["spec"]["maxReplicas"]
        for h in k8s_objects
        if h["kind"] == "HorizontalPodAutoscaler"
    }
    needed = 0
    for obj in k8s_objects:
        if obj["kind"] not in ("Deployment", "Job"):
            continue
        for container in obj["spec"]["template"]["spec"]["containers"]:
            if container["image"] != PREFLOG_IMAGE:
                continue
            pods = max_replicas.get(obj["metadata"]["name"], obj["spec"].get("replicas", 1))
            needed += pods * _settings_for(k8s_objects, container).db_pool_max
    cluster = _find(k8s_objects, "Cluster", "preflog-pg")
    max_connections = int(cluster["spec"]["postgresql"]["parameters"]["max_connections"])
    reserved = 3 + 10  # superuser_reserved_connections + the operator's own sessions
    assert needed + reserved <= max_connections, (needed, max_connections)


def test_migrate_runs_once_as_a_job(k8s_objects: list[dict[str, Any]]) -> None:
    job = _find(k8s_objects, "Job", "preflog-migrate")
    pod = job["spec"]["template"]["spec"]
    assert pod["restartPolicy"] in ("OnFailure", "Never")
    (container,) = pod["containers"]
    assert (container["image"], container["args"]) == (PREFLOG_IMAGE, ["migrate"])


def test_nats_is_a_three_node_jetstream_cluster_with_routes_to_each_pod(
    k8s_objects: list[dict[str, Any]], nats_conf: Callable[[Path, str], str]
) -> None:
    statefulset = _find(k8s_objects, "StatefulSet", "preflog-nats")
    spec = statefulset["spec"]
    assert spec["replicas"] == 3
    headless = _find(k8s_objects, "Service", spec["serviceName"])
    assert headless["spec"]["clusterIP"] == "None"
    assert headless["spec"]["publishNotReadyAddresses"] is True
    assert headless["spec"]["selector"].items() <= spec["template"]["metadata"]["labels"].items()

    config_map = _find(k8s_objects, "ConfigMap", "preflog-nats-config")
    conf = config_map["data"]["nats.conf"]
    cluster_block = conf[conf.index("\ncluster {") :]
    cluster_port = int(re.search(r"listen:\s*[\d.]+:(\d+)", cluster_block)[1])  # type: ignore[index]
    routes = re.findall(r"nats://([\w.-]+):(\d+)", cluster_block)
    headless_name = headless["metadata"]["name"]
    expected = {(f"preflog-nats-{i}.{headless_name}", str(cluster_port)) for i in range(3)}
    assert set(routes) == expected

    (container,) = spec["template"]["spec"]["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"client": 4222, "cluster": cluster_port, "monitor": 8222}
    assert "server_name: $POD_NAME" in conf
    pod_name = {"name": "POD_NAME", "valueFrom": {"fieldRef": {"fieldPath": "metadata.name"}}}
    assert pod_name in container["env"]
    mounts = {m["name"]: m["mountPath"] for m in container["volumeMounts"]}
    config_volume = next(v for v in spec["template"]["spec"]["volumes"] if v["name"] == "config")
    assert config_volume["configMap"]["name"] == "preflog-nats-config"
    assert container["args"] == ["--config", f"{mounts['config']}/nats.conf"]
    claim = spec["volumeClaimTemplates"][0]
    assert mounts[claim["metadata"]["name"]] == nats_conf(NATS_CLUSTER_CONF, "store_dir")
    for probe in ("startupProbe", "readinessProbe", "livenessProbe"):
        http = container[probe]["httpGet"]
        assert http["path"].startswith("/healthz") and http["port"] == "monitor", probe
