"""deploy/envoy/: the Kubernetes manifests that run Envoy with sirp extproc beside it validate against the same
pinned Kubernetes schemas as the server's (deploy/k8s), and the names, ports, paths and labels they share with
router.yaml, envoy.yaml and the server's Redis agree."""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

from sirp.config.loader import config_from_yaml
from sirp.extproc.bootstrap import ENVOY_VERSION

ROOT = Path(__file__).resolve().parents[3]
ENVOY_DIR = ROOT / "deploy" / "envoy"
K8S = ROOT / "deploy" / "k8s"
KUBERNETES_VERSION = "1.33.0"  # as tests/unit/test_deploy.py pins it for the server's manifests

MANIFESTS = sorted((ENVOY_DIR / "k8s").glob("*.yaml"))
RESOURCES = [(p.name, d) for p in MANIFESTS for d in yaml.safe_load_all(p.read_text(encoding="utf-8")) if d]


def one(kind: str, name: str | None = None, resources: list[tuple[str, dict[str, Any]]] = RESOURCES) -> dict[str, Any]:
    found = [d for _, d in resources if d["kind"] == kind and (name is None or d["metadata"]["name"] == name)]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def containers() -> dict[str, dict[str, Any]]:
    spec = one("Deployment", "sirp-envoy")["spec"]["template"]["spec"]
    return {c["name"]: c for c in spec["containers"]}


def kustomization() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ENVOY_DIR / "kustomization.yaml").read_text(encoding="utf-8"))
    return data


@pytest.mark.parametrize(
    ("filename", "resource"), RESOURCES, ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in RESOURCES]
)
def test_manifest_validates_against_the_pinned_kubernetes_schema(filename: str, resource: dict[str, Any]) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    assert kv.validate(resource, KUBERNETES_VERSION, strict=True) == "1.33"


def test_kustomization_lists_every_manifest_and_its_config_files() -> None:
    k = kustomization()
    assert sorted(k["resources"]) == sorted(f"k8s/{p.name}" for p in MANIFESTS)
    (gen,) = k["configMapGenerator"]
    assert sorted(gen["files"]) == ["envoy.yaml", "router.yaml"]
    for f in gen["files"]:
        assert (ENVOY_DIR / f).is_file()
    volumes = one("Deployment", "sirp-envoy")["spec"]["template"]["spec"]["volumes"]
    assert {"name": "config", "configMap": {"name": gen["name"]}} in volumes


def test_each_container_reads_its_file_where_it_is_mounted() -> None:
    c = containers()
    envoy_args = c["envoy"]["args"]
    path = envoy_args[envoy_args.index("-c") + 1]
    assert {"name": "config", "mountPath": path, "subPath": "envoy.yaml", "readOnly": True} in c["envoy"][
        "volumeMounts"
    ]
    assert c["sirp"]["command"] == ["sirp", "extproc"]
    args = c["sirp"]["args"]
    path = args[args.index("--config") + 1]
    assert {"name": "config", "mountPath": path, "subPath": "router.yaml", "readOnly": True} in c["sirp"][
        "volumeMounts"
    ]


def test_ports_agree_between_router_yaml_envoy_yaml_and_the_manifests() -> None:
    config = config_from_yaml(ENVOY_DIR / "router.yaml")
    ext = config.server.extproc
    envoy = yaml.safe_load((ENVOY_DIR / "envoy.yaml").read_text(encoding="utf-8"))
    c = containers()
    ports = {p["name"]: p["containerPort"] for p in c["sirp"]["ports"]}
    assert ports == {"grpc": ext.port, "metrics": ext.metrics_port}
    for probe in ("startupProbe", "livenessProbe", "readinessProbe"):
        assert c["sirp"][probe]["grpc"]["port"] == ext.port
    annotations = one("Deployment", "sirp-envoy")["spec"]["template"]["metadata"]["annotations"]
    assert annotations["prometheus.io/port"] == str(ext.metrics_port)
    assert ext.host == "0.0.0.0"
    extproc_cluster = next(cl for cl in envoy["static_resources"]["clusters"] if cl["name"] == "sirp_extproc")
    addr = extproc_cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]
    assert addr["socket_address"] == {"address": "127.0.0.1", "port_value": ext.port}  # the sidecar
    listen = envoy["static_resources"]["listeners"][0]["address"]["socket_address"]["port_value"]
    assert {p["name"]: p["containerPort"] for p in c["envoy"]["ports"]} == {"http": listen}
    svc = one("Service", "sirp-envoy")
    assert svc["spec"]["ports"][0]["targetPort"] == "http"


def test_the_envoy_image_is_the_version_the_bootstrap_was_written_for() -> None:
    image = containers()["envoy"]["image"]
    assert image.startswith(f"envoyproxy/envoy:v{ENVOY_VERSION}.")


def test_every_variable_the_config_names_is_set() -> None:
    config = config_from_yaml(ENVOY_DIR / "router.yaml")
    env = {e["name"] for e in containers()["sirp"]["env"]}
    named = {m.api_key_env for m in config.models if m.api_key_env}
    named |= {config.server.redis_url_env, config.cache.redis_url_env} - {None}
    assert named <= env


def test_the_gateway_shares_the_servers_redis_and_may_reach_it() -> None:
    server = [(p.name, d) for p in sorted(K8S.glob("*.yaml")) for d in yaml.safe_load_all(p.read_text()) if d]
    if not server:
        pytest.skip("deploy/k8s (the server's manifests) is not here")
    redis_service = one("Service", "sirp-redis", server)
    env = {e["name"]: e.get("value") for e in containers()["sirp"]["env"]}
    url = urlsplit(env["SIRP_REDIS_URL"])
    assert url.hostname == redis_service["metadata"]["name"] and url.port == redis_service["spec"]["ports"][0]["port"]
    redis_pods = one("Deployment", "sirp-redis", server)["spec"]["template"]["metadata"]["labels"]
    policy = one("NetworkPolicy", "sirp-redis-from-gateway")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= redis_pods.items()
    gateway = one("Deployment", "sirp-envoy")["spec"]["template"]["metadata"]["labels"]
    assert policy["spec"]["ingress"][0]["from"][0]["podSelector"]["matchLabels"].items() <= gateway.items()
    # the server's Service must not send its traffic to the gateway pods, nor ours to the server's
    server_selector = one("Service", "sirp", server)["spec"]["selector"]
    assert not server_selector.items() <= gateway.items()
    server_pods = one("Deployment", "sirp", server)["spec"]["template"]["metadata"]["labels"]
    assert not one("Service", "sirp-envoy")["spec"]["selector"].items() <= server_pods.items()


def test_the_containers_run_locked_down() -> None:
    for c in containers().values():
        sc = c["securityContext"]
        assert sc["allowPrivilegeEscalation"] is False and sc["readOnlyRootFilesystem"] is True
        assert sc["capabilities"]["drop"] == ["ALL"] and sc["runAsUser"] != 0
        assert "limits" in c["resources"]
