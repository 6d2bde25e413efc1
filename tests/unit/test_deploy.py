"""deploy/: the Kubernetes manifests against a pinned Kubernetes version's schemas, and what ties them together.

No cluster and no Docker engine run here, so this is what CI can check: every manifest validates
(strictly: an unknown field is an error) against the JSON schemas that ``kubernetes-validate``
bundles, the ConfigMap's router.yaml is a valid sirp config for the bundled model, and the
names, ports, labels and paths that the Dockerfile, the Deployment, the Services, the HPA and the
config share agree.
"""

from __future__ import annotations

import copy
import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml

from sirp.config.loader import config_from_dict
from sirp.config.schema import RouterConfig

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
#: The Kubernetes version whose schemas the manifests must satisfy (kubernetes-validate bundles 1.25+).
KUBERNETES_VERSION = "1.33.0"


def _docs(path: Path) -> list[dict[str, Any]]:
    return [d for d in yaml.safe_load_all(path.read_text(encoding="utf-8")) if d]


MANIFEST_FILES = sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml")
RESOURCES = [(p.name, d) for p in MANIFEST_FILES for d in _docs(p)]


def _one(kind: str, name: str) -> dict[str, Any]:
    found = [d for _, d in RESOURCES if d["kind"] == kind and d["metadata"]["name"] == name]
    assert len(found) == 1, f"expected one {kind} {name}, found {len(found)}"
    return found[0]


def _router_container() -> dict[str, Any]:
    return _one("Deployment", "sirp")["spec"]["template"]["spec"]["containers"][0]


def _router_config() -> RouterConfig:
    text = _one("ConfigMap", "sirp-config")["data"]["router.yaml"]
    return config_from_dict(yaml.safe_load(text), source="deploy/k8s/configmap.yaml router.yaml")


def _dockerfile() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs of deploy/Dockerfile, continuation lines joined, comments dropped."""
    text = re.sub(r"\\\n", " ", (DEPLOY / "Dockerfile").read_text(encoding="utf-8"))
    out = []
    for line in text.splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            word, _, rest = line.partition(" ")
            out.append((word.upper(), rest.strip()))
    return out


def _instructions(name: str) -> list[str]:
    return [rest for word, rest in _dockerfile() if word == name]


# -- schemas -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filename", "resource"), RESOURCES, ids=[f"{f}:{d['kind']}/{d['metadata']['name']}" for f, d in RESOURCES]
)
def test_manifest_validates_against_the_pinned_kubernetes_schema(filename: str, resource: dict[str, Any]) -> None:
    kv = pytest.importorskip("kubernetes_validate")
    assert kv.validate(resource, KUBERNETES_VERSION, strict=True) == "1.33"


def test_the_schema_check_catches_mistakes() -> None:
    kv = pytest.importorskip("kubernetes_validate")
    deployment = _one("Deployment", "sirp")
    typo = copy.deepcopy(deployment)
    typo["spec"]["template"]["spec"]["containers"][0]["readinessProbe"]["httpGett"] = {"path": "/ready"}
    wrong_type = copy.deepcopy(deployment)
    wrong_type["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"] = "8000"
    for broken in (typo, wrong_type):
        with pytest.raises(kv.ValidationError):
            kv.validate(broken, KUBERNETES_VERSION, strict=True)


def test_kustomization_lists_every_manifest() -> None:
    kustomization = _docs(K8S / "kustomization.yaml")[0]
    assert kustomization["kind"] == "Kustomization"
    assert sorted(kustomization["resources"]) == [p.name for p in MANIFEST_FILES]
    assert [i["name"] for i in kustomization["images"]] == [_router_container()["image"].split(":")[0]]


# -- the router config -------------------------------------------------------------------------


def test_configmap_router_yaml_is_a_valid_config_for_the_bundled_model() -> None:
    config = _router_config()
    manifest = json.loads((ROOT / "sirp" / "default_model" / "sirp_manifest.json").read_text())
    assert config.classifier.model is None  # the model inside the image's sirp package
    assert {t.reference_model for t in config.tiers} <= set(manifest["reference_models"])
    assert set(config.policy.reasoning.categories) <= set(manifest["categories"])
    assert config.server.host == "0.0.0.0" and config.server.workers == 1
    assert config.models, "the server needs models: to answer chat and responses"


def test_configmap_is_mounted_where_the_args_point() -> None:
    container = _router_container()
    pod = _one("Deployment", "sirp")["spec"]["template"]["spec"]
    args = container["args"]
    config_path = Path(args[args.index("--config") + 1])
    mount = next(m for m in container["volumeMounts"] if Path(m["mountPath"]) == config_path.parent)
    volume = next(v for v in pod["volumes"] if v["name"] == mount["name"])
    assert volume["configMap"]["name"] == "sirp-config" and mount.get("readOnly") is True
    assert config_path.name in _one("ConfigMap", "sirp-config")["data"]


def test_every_variable_the_config_names_is_set() -> None:
    config = _router_config()
    env = {e["name"]: e for e in _router_container()["env"]}
    for name in {m.api_key_env for m in config.models if m.api_key_env}:
        assert env[name]["valueFrom"]["secretKeyRef"]["name"] == "sirp-api-keys", name
    for name in {config.server.redis_url_env, config.cache.redis_url_env} - {None}:
        assert name in env, name
    # the Redis URL points at the Redis Service
    url = env[config.server.redis_url_env]["value"]
    host, port = re.match(r"redis://([^:/]+):(\d+)/", url).groups()  # type: ignore[union-attr]
    service = _one("Service", host)
    assert int(port) in [p["port"] for p in service["spec"]["ports"]]


# -- workloads, services, autoscaling ----------------------------------------------------------


def test_router_deployment_probes_resources_and_security() -> None:
    deployment = _one("Deployment", "sirp")
    container = _router_container()
    assert container["readinessProbe"]["httpGet"]["path"] == "/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health"
    for kind in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(container["resources"][kind])
    pod_security = deployment["spec"]["template"]["spec"]["securityContext"]
    assert pod_security["runAsNonRoot"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert "replicas" not in deployment["spec"], "the HPA owns the replica count"


def _labels_select(selector: dict[str, str], labels: dict[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())


@pytest.mark.parametrize("name", ["sirp", "sirp-redis"])
def test_service_selects_its_deployment_and_targets_a_container_port(name: str) -> None:
    service = _one("Service", name)
    pod = _one("Deployment", name)["spec"]["template"]
    assert _labels_select(service["spec"]["selector"], pod["metadata"]["labels"])
    assert _labels_select(_one("Deployment", name)["spec"]["selector"]["matchLabels"], pod["metadata"]["labels"])
    ports = {p["name"]: p["containerPort"] for c in pod["spec"]["containers"] for p in c["ports"]}
    for p in service["spec"]["ports"]:
        target = p["targetPort"]
        assert (ports[target] if isinstance(target, str) else target) in ports.values()


def test_the_router_port_is_the_same_everywhere() -> None:
    target = _one("Service", "sirp")["spec"]["ports"][0]["targetPort"]
    container_ports = {p["name"]: p["containerPort"] for p in _router_container()["ports"]}
    port = container_ports[target] if isinstance(target, str) else target
    assert [int(e.split("/")[0]) for e in _instructions("EXPOSE")] == [port]
    assert _router_config().server.port == port
    assert f"127.0.0.1:{port}/health" in _instructions("HEALTHCHECK")[0]


def test_hpa_scales_the_router_on_cpu() -> None:
    hpa = _one("HorizontalPodAutoscaler", "sirp")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "sirp"}
    assert 1 <= hpa["spec"]["minReplicas"] <= hpa["spec"]["maxReplicas"]
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu" and metric["resource"]["target"]["type"] == "Utilization"


def test_only_the_router_may_reach_redis() -> None:
    policy = _one("NetworkPolicy", "sirp-redis")
    redis_pod = _one("Deployment", "sirp-redis")["spec"]["template"]["metadata"]["labels"]
    router_pod = _one("Deployment", "sirp")["spec"]["template"]["metadata"]["labels"]
    assert _labels_select(policy["spec"]["podSelector"]["matchLabels"], redis_pod)
    (rule,) = policy["spec"]["ingress"]
    assert _labels_select(rule["from"][0]["podSelector"]["matchLabels"], router_pod)
    assert not _labels_select(rule["from"][0]["podSelector"]["matchLabels"], redis_pod)


# -- the image ---------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_slim_python_and_installs_server_and_envoy_extras() -> None:
    stages = _instructions("FROM")
    assert len(stages) >= 2 and all("-slim" in s for s in stages), stages
    # one image serves both front doors: `sirp serve` and `sirp extproc` (deploy/envoy)
    assert any(".[server,envoy]" in r for r in _instructions("RUN"))
    assert any(c.startswith("--from=build ") for c in _instructions("COPY"))


def test_dockerfile_runs_sirp_serve_as_a_non_root_user() -> None:
    (user,) = _instructions("USER")
    uid = user.split(":")[0]
    assert uid.isdigit() and int(uid) != 0, "a numeric, non-root uid (Kubernetes' runAsNonRoot can check it)"
    assert _one("Deployment", "sirp")["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)
    (entrypoint,) = _instructions("ENTRYPOINT")
    assert json.loads(entrypoint) == ["sirp", "serve"]
    assert "/health" in _instructions("HEALTHCHECK")[0]


def test_the_bundled_model_goes_into_the_image() -> None:
    tomllib = pytest.importorskip("tomllib")
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    assert "default_model/*" in pyproject["tool"]["setuptools"]["package-data"]["sirp"]
    copied = " ".join(_instructions("COPY"))
    assert "sirp" in shlex.split(copied) and "pyproject.toml" in copied
    ignore = (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
    for needed in ("pyproject.toml", "README.md", "sirp/"):
        assert f"!{needed}" in ignore, f"the build context must let {needed} in"
