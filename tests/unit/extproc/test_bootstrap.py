"""deploy/envoy/envoy.yaml is a valid Envoy bootstrap (parsed into xds-protos' Bootstrap: an unknown field or an
unresolvable typed_config fails), it is what `sirp extproc --envoy-config` makes of deploy/envoy/router.yaml, and
its ext_proc filter agrees with that config: one cluster per model endpoint, routes on the destination header."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

# The typed_config Any messages resolve only once their extension's protos are imported.
from envoy.config.bootstrap.v3 import bootstrap_pb2
from envoy.extensions.filters.http.ext_proc.v3 import ext_proc_pb2
from envoy.extensions.filters.http.header_mutation.v3 import header_mutation_pb2  # noqa: F401
from envoy.extensions.filters.http.router.v3 import router_pb2  # noqa: F401
from envoy.extensions.filters.network.http_connection_manager.v3 import http_connection_manager_pb2
from envoy.extensions.transport_sockets.tls.v3 import tls_pb2  # noqa: F401
from envoy.extensions.upstreams.http.v3 import http_protocol_options_pb2  # noqa: F401
from google.protobuf import json_format

from sirp.config.loader import config_from_dict, config_from_yaml
from sirp.errors import ConfigError
from sirp.extproc.bootstrap import ENVOY_VERSION, EXTPROC_CLUSTER, envoy_bootstrap

ROOT = Path(__file__).resolve().parents[3]
ENVOY_DIR = ROOT / "deploy" / "envoy"


def parse(data: dict[str, Any]) -> Any:
    return json_format.ParseDict(data, bootstrap_pb2.Bootstrap())


def shipped() -> dict[str, Any]:
    data: dict[str, Any] = yaml.safe_load((ENVOY_DIR / "envoy.yaml").read_text(encoding="utf-8"))
    return data


def hcm(b: dict[str, Any]) -> dict[str, Any]:
    cfg: dict[str, Any] = b["static_resources"]["listeners"][0]["filter_chains"][0]["filters"][0]["typed_config"]
    return cfg


def ext_proc(b: dict[str, Any]) -> dict[str, Any]:
    (f,) = [f for f in hcm(b)["http_filters"] if f["name"] == "envoy.filters.http.ext_proc"]
    cfg: dict[str, Any] = f["typed_config"]
    return cfg


def test_the_shipped_envoy_yaml_parses_into_a_bootstrap() -> None:
    msg = parse(shipped())
    listener = msg.static_resources.listeners[0]
    assert listener.per_connection_buffer_limit_bytes.value > 8 * 1024 * 1024
    manager = http_connection_manager_pb2.HttpConnectionManager()
    assert listener.filter_chains[0].filters[0].typed_config.Unpack(manager)
    names = [f.name for f in manager.http_filters]
    assert names == ["envoy.filters.http.header_mutation", "envoy.filters.http.ext_proc", "envoy.filters.http.router"]
    filt = ext_proc_pb2.ExternalProcessor()
    assert manager.http_filters[1].typed_config.Unpack(filt)
    assert filt.grpc_service.envoy_grpc.cluster_name == EXTPROC_CLUSTER
    mode = filt.processing_mode
    assert mode.request_body_mode == mode.BUFFERED and mode.response_body_mode == mode.STREAMED
    assert filt.allow_mode_override and not filt.disable_clear_route_cache


def test_the_check_catches_mistakes() -> None:
    bad = shipped()
    ext_proc(bad)["failure_mode_alow"] = True
    with pytest.raises(json_format.ParseError, match="failure_mode_alow"):
        parse(bad)
    bad = shipped()
    ext_proc(bad)["@type"] += "X"
    with pytest.raises(json_format.ParseError, match="type_url"):
        parse(bad)


def test_the_shipped_file_is_what_the_router_config_makes() -> None:
    config = config_from_yaml(ENVOY_DIR / "router.yaml")
    assert shipped() == envoy_bootstrap(config)
    first = (ENVOY_DIR / "envoy.yaml").read_text(encoding="utf-8").splitlines()[0]
    assert f"Envoy v{ENVOY_VERSION}" in first


def test_the_filter_agrees_with_the_router_config() -> None:
    config = config_from_yaml(ENVOY_DIR / "router.yaml")
    ext = config.server.extproc
    f = ext_proc(shipped())
    assert f["failure_mode_allow"] is ext.fail_open
    assert float(f["message_timeout"].rstrip("s")) > ext.decision_timeout_s
    (cluster,) = [c for c in shipped()["static_resources"]["clusters"] if c["name"] == EXTPROC_CLUSTER]
    address = cluster["load_assignment"]["endpoints"][0]["lb_endpoints"][0]["endpoint"]["address"]["socket_address"]
    assert address["port_value"] == ext.port
    assert cluster["health_checks"][0]["grpc_health_check"]["service_name"] == (
        "envoy.service.ext_proc.v3.ExternalProcessor"
    )
    header_filter = hcm(shipped())["http_filters"][0]["typed_config"]
    assert header_filter["mutations"]["request_mutations"] == [{"remove": ext.destination_header}]


def test_every_model_has_a_route_on_the_destination_header_and_a_cluster() -> None:
    config = config_from_yaml(ENVOY_DIR / "router.yaml")
    b = shipped()
    routes = hcm(b)["route_config"]["virtual_hosts"][0]["routes"]
    clusters = {c["name"]: c for c in b["static_resources"]["clusters"]}
    for m in config.models:
        (route,) = [r for r in routes if r["name"] == f"model_{m.name}"]
        assert route["match"]["headers"] == [
            {"name": config.server.extproc.destination_header, "string_match": {"exact": m.name}}
        ]
        assert route["route"]["cluster"] in clusters
        assert route["route"]["idle_timeout"] == f"{m.timeout_s:g}s"
    assert routes[-1]["name"] == "unrouted" and "headers" not in routes[-1]["match"]
    assert routes[-1]["route"]["cluster"] == f"model_{config.tiers[0].model}"
    tls = clusters["model_o4-mini"]["transport_socket"]["typed_config"]
    assert tls["sni"] == "api.openai.com"
    assert "transport_socket" not in clusters["model_qwen3-8b"]


def small_config(**extra: Any) -> Any:
    models = [
        {"name": "a", "tier": "slm", "base_url": "http://10.0.0.5:8000/v1"},
        {
            "name": "b",
            "tier": "llm",
            "providers": [
                {"name": "east", "base_url": "https://east.example.com/openai/v1", "weight": 3},
                {"name": "west", "base_url": "https://west.example.com/openai/v1"},
            ],
        },
    ]
    tiers = [
        {"name": "slm", "model": "a", "reference_model": "x"},
        {"name": "llm", "model": "b", "reference_model": "y"},
    ]
    return config_from_dict({"tiers": tiers, "models": models, **extra}, source="test")


def test_providers_become_weighted_clusters_and_paths_are_rewritten() -> None:
    b = envoy_bootstrap(small_config(server={"extproc": {"fail_open": False, "port": 6000}}), extproc_address="sirp")
    parse(b)
    routes = {r["name"]: r for r in hcm(b)["route_config"]["virtual_hosts"][0]["routes"]}
    weighted = routes["model_b"]["route"]["weighted_clusters"]["clusters"]
    assert weighted == [{"name": "model_b_east", "weight": 300}, {"name": "model_b_west", "weight": 100}]
    assert routes["model_b"]["route"]["regex_rewrite"]["substitution"] == "/openai/v1/"
    assert "regex_rewrite" not in routes["model_a"]["route"]
    clusters = {c["name"]: c for c in b["static_resources"]["clusters"]}
    assert clusters["model_a"]["type"] == "STATIC" and clusters["model_b_east"]["type"] == "LOGICAL_DNS"
    assert clusters[EXTPROC_CLUSTER]["type"] == "STRICT_DNS"
    assert ext_proc(b)["failure_mode_allow"] is False


def test_a_config_envoy_cannot_express_is_refused() -> None:
    with pytest.raises(ConfigError, match="models"):
        envoy_bootstrap(config_from_dict({}, source="test"))
    cfg = small_config()
    data = cfg.model_dump(mode="json")
    data["models"][1]["providers"][1]["base_url"] = "https://west.example.com/v1"
    with pytest.raises(ConfigError, match="different URL paths"):
        envoy_bootstrap(config_from_dict(data, source="test"))


def test_the_cli_prints_the_bootstrap() -> None:
    cmd = ["extproc", "--envoy-config", "--config", str(ENVOY_DIR / "router.yaml")]
    out = subprocess.run(
        [sys.executable, "-m", "sirp.cli.main", *cmd],
        capture_output=True,
        text=True,
        timeout=120,
        cwd=ROOT,
    )
    assert out.returncode == 0, out.stderr
    assert yaml.safe_load(out.stdout) == shipped()
