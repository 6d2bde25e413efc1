"""An Envoy bootstrap for a router config: one cluster per model endpoint, routes on the destination header.

``sirp extproc --config router.yaml --envoy-config`` prints it; ``deploy/envoy/envoy.yaml`` is
this function's output for ``deploy/envoy/router.yaml``. Written for Envoy v1.36 (its v3 API,
as the ``xds-protos`` package carries it); it uses nothing newer than v1.31.

What it holds:

- a listener whose HTTP filters are, in order: ``header_mutation`` (a client may not choose
  the destination itself: the header is removed), ``ext_proc`` (sirp; request body buffered,
  answer streamed past, ``failure_mode_allow`` = ``server.extproc.fail_open``, a message timeout
  above ``decision_timeout_s``, mode overrides allowed so that requests sirp does not route skip
  it, the peer address sent for the access layer), ``router``;
- one route per model, matching the destination header exactly (several providers of a model:
  weighted clusters), with the base URL's path prefix, the model's attempt time as idle timeout
  and its ``max_retries`` as Envoy retries; a last route without the header (paths sirp does not
  route, and requests when sirp fails open) to the first tier's model;
- one cluster per model endpoint (``models[].base_url`` or each of ``models[].providers``): DNS,
  TLS with SNI for ``https``, and the ext_proc cluster (HTTP/2, gRPC health checked).
"""

from __future__ import annotations

import copy
import ipaddress
import math
import re
from typing import Any
from urllib.parse import urlsplit

from sirp.config.providers import ProviderEndpoint
from sirp.config.schema import ModelConfig, RouterConfig
from sirp.errors import ConfigError

__all__ = ["ENVOY_VERSION", "EXTPROC_CLUSTER", "envoy_bootstrap"]

#: The Envoy release the bootstrap is written for.
ENVOY_VERSION = "1.36"

#: The cluster name of the ext_proc service.
EXTPROC_CLUSTER = "sirp_extproc"

_HCM = "type.googleapis.com/envoy.extensions.filters.network.http_connection_manager.v3.HttpConnectionManager"
_EXT_PROC = "type.googleapis.com/envoy.extensions.filters.http.ext_proc.v3.ExternalProcessor"
_HEADER_MUTATION = "type.googleapis.com/envoy.extensions.filters.http.header_mutation.v3.HeaderMutation"
_ROUTER = "type.googleapis.com/envoy.extensions.filters.http.router.v3.Router"
_TLS = "type.googleapis.com/envoy.extensions.transport_sockets.tls.v3.UpstreamTlsContext"
_HTTP_OPTIONS = "type.googleapis.com/envoy.extensions.upstreams.http.v3.HttpProtocolOptions"
_HTTP_OPTIONS_KEY = "envoy.extensions.upstreams.http.v3.HttpProtocolOptions"


def _seconds(value: float) -> str:
    """A protobuf Duration in JSON: ``"2.5s"``."""
    return f"{value:g}s"


def _cluster_name(model: str, provider: str | None) -> str:
    base = re.sub(r"[^A-Za-z0-9_.-]", "_", model)
    return f"model_{base}" if provider is None else f"model_{base}_{re.sub(r'[^A-Za-z0-9_.-]', '_', provider)}"


def _address(host: str, port: int) -> dict[str, Any]:
    return {"socket_address": {"address": host, "port_value": port}}


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _endpoint_cluster(name: str, provider: ProviderEndpoint, timeout_s: float) -> tuple[dict[str, Any], str]:
    """The cluster of one endpoint, and its base path (e.g. ``/v1``)."""
    url = urlsplit(provider.base_url)
    host = url.hostname or "localhost"
    tls = url.scheme == "https"
    port = url.port or (443 if tls else 80)
    endpoint: dict[str, Any] = {"address": _address(host, port)}
    if not _is_ip(host):
        endpoint["hostname"] = host  # auto_host_rewrite sends this as the Host header
    cluster: dict[str, Any] = {
        "name": name,
        "type": "STATIC" if _is_ip(host) else ("LOGICAL_DNS" if tls else "STRICT_DNS"),
        "connect_timeout": _seconds(min(timeout_s, 10.0)),
        "lb_policy": "ROUND_ROBIN",
        "load_assignment": {"cluster_name": name, "endpoints": [{"lb_endpoints": [{"endpoint": endpoint}]}]},
    }
    if not _is_ip(host):
        cluster["dns_lookup_family"] = "V4_PREFERRED"
    if tls:
        cluster["transport_socket"] = {
            "name": "envoy.transport_sockets.tls",
            "typed_config": {"@type": _TLS, "sni": host},
        }
    return cluster, url.path.rstrip("/")


def _model_route(mc: ModelConfig, header: str) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    """The route that sends requests for ``mc`` to its endpoints, and their clusters."""
    endpoints = mc.endpoints()
    clusters: list[dict[str, Any]] = []
    paths: set[str] = set()
    weighted: list[dict[str, Any]] = []
    for p in endpoints:
        name = _cluster_name(mc.name, p.label if len(endpoints) > 1 else None)
        cluster, path = _endpoint_cluster(name, p, p.timeout_s or mc.timeout_s)
        clusters.append(cluster)
        paths.add(path)
        weighted.append({"name": name, "weight": max(1, math.ceil(p.weight * 100))})
    if len(paths) > 1:
        raise ConfigError(
            f"models: {mc.name!r} has providers under different URL paths ({', '.join(sorted(paths))}); one Envoy "
            "route cannot rewrite the path per provider: serve them under the same path"
        )
    action: dict[str, Any] = {
        "timeout": "0s",  # a streamed answer may take long; the idle timeout bounds a stalled one
        "idle_timeout": _seconds(mc.timeout_s),
        "auto_host_rewrite": True,
        "retry_policy": {
            "retry_on": "connect-failure,refused-stream,reset,retriable-status-codes",
            "retriable_status_codes": [429, 502, 503, 504],
            "num_retries": mc.max_retries,
        },
    }
    if len(weighted) == 1:
        action["cluster"] = weighted[0]["name"]
    else:
        action["weighted_clusters"] = {"clusters": weighted}
    (path,) = paths
    if path != "/v1":
        # clients call /v1/...; this endpoint serves the OpenAI API under another path
        action["regex_rewrite"] = {"pattern": {"regex": "^/v1/"}, "substitution": f"{path}/"}
    route = {
        "name": f"model_{mc.name}",
        "match": {"prefix": "/", "headers": [{"name": header, "string_match": {"exact": mc.name}}]},
        "route": action,
    }
    return route, clusters


def envoy_bootstrap(
    config: RouterConfig,
    *,
    listen_port: int = 8080,
    extproc_address: str = "127.0.0.1",
    admin_port: int = 9901,
) -> dict[str, Any]:
    """The Envoy bootstrap (as JSON-ready data) that puts ``sirp extproc`` in front of ``config``'s models.

    Args:
        config: the router config (``models:`` are the upstreams; ``server.extproc`` the service).
        listen_port: where Envoy takes the clients' OpenAI requests.
        extproc_address: the host of the ext_proc service (``127.0.0.1`` for a sidecar).
        admin_port: Envoy's admin interface (on 127.0.0.1 only).

    Raises:
        ConfigError: the config has no ``models:``, or a model cannot be expressed as Envoy routes.
    """
    if not config.models:
        raise ConfigError("an Envoy config needs the models' endpoints: add a models: list to the router config")
    server, ext = config.server, config.server.extproc
    header = ext.destination_header
    routes: list[dict[str, Any]] = []
    clusters: list[dict[str, Any]] = []
    for mc in config.models:
        route, mine = _model_route(mc, header)
        routes.append(route)
        clusters.extend(mine)
    default_model = next((m for m in config.models if m.name == config.tiers[0].model), config.models[0])
    default = next(r for r in routes if r["name"] == f"model_{default_model.name}")
    routes.append({"name": "unrouted", "match": {"prefix": "/"}, "route": copy.deepcopy(default["route"])})
    ext_proc_filter = {
        "@type": _EXT_PROC,
        "grpc_service": {"envoy_grpc": {"cluster_name": EXTPROC_CLUSTER}},
        "failure_mode_allow": ext.fail_open,
        "message_timeout": _seconds(ext.decision_timeout_s + 1.0),
        "allow_mode_override": True,
        "request_attributes": ["source.address"],
        "processing_mode": {
            "request_header_mode": "SEND",
            "request_body_mode": "BUFFERED",
            "request_trailer_mode": "SKIP",
            "response_header_mode": "SEND",
            "response_body_mode": "STREAMED",
            "response_trailer_mode": "SKIP",
        },
        # sirp sets clear_route_cache with the destination header: the route is chosen again after it
        "disable_clear_route_cache": False,
        "route_cache_action": "DEFAULT",
    }
    hcm = {
        "@type": _HCM,
        "stat_prefix": "llm_ingress",
        "codec_type": "AUTO",
        "stream_idle_timeout": "300s",
        "route_config": {"name": "llm_routes", "virtual_hosts": [{"name": "llm", "domains": ["*"], "routes": routes}]},
        "http_filters": [
            {
                "name": "envoy.filters.http.header_mutation",
                "typed_config": {
                    "@type": _HEADER_MUTATION,
                    "mutations": {"request_mutations": [{"remove": header}]},
                },
            },
            {"name": "envoy.filters.http.ext_proc", "typed_config": ext_proc_filter},
            {"name": "envoy.filters.http.router", "typed_config": {"@type": _ROUTER}},
        ],
    }
    extproc_cluster: dict[str, Any] = {
        "name": EXTPROC_CLUSTER,
        "type": "STATIC" if _is_ip(extproc_address) else "STRICT_DNS",
        "connect_timeout": "1s",
        "lb_policy": "ROUND_ROBIN",
        "typed_extension_protocol_options": {
            _HTTP_OPTIONS_KEY: {"@type": _HTTP_OPTIONS, "explicit_http_config": {"http2_protocol_options": {}}}
        },
        "load_assignment": {
            "cluster_name": EXTPROC_CLUSTER,
            "endpoints": [{"lb_endpoints": [{"endpoint": {"address": _address(extproc_address, ext.port)}}]}],
        },
        "health_checks": [
            {
                "timeout": "1s",
                "interval": "5s",
                "unhealthy_threshold": 2,
                "healthy_threshold": 1,
                "grpc_health_check": {"service_name": "envoy.service.ext_proc.v3.ExternalProcessor"},
            }
        ],
    }
    return {
        "admin": {"address": _address("127.0.0.1", admin_port)},
        "static_resources": {
            "listeners": [
                {
                    "name": "llm_ingress",
                    "address": _address("0.0.0.0", listen_port),  # noqa: S104 - the proxy's public port
                    # the whole body is buffered for sirp: leave room past server.max_request_bytes
                    "per_connection_buffer_limit_bytes": server.max_request_bytes + 65536,
                    "filter_chains": [
                        {"filters": [{"name": "envoy.filters.network.http_connection_manager", "typed_config": hcm}]}
                    ],
                }
            ],
            "clusters": [extproc_cluster, *clusters],
        },
    }
