"""Envoy's ext_proc messages, built and read in one place (protos from the ``xds-protos`` package).

Only this module and :mod:`sirp.extproc.service` import the generated protos; the rest of the
package speaks in plain headers, bytes and statuses.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any

from envoy.config.core.v3 import base_pb2
from envoy.extensions.filters.http.ext_proc.v3 import processing_mode_pb2
from envoy.service.ext_proc.v3 import external_processor_pb2 as ep

__all__ = [
    "ATTRIBUTES_KEY",
    "ProcessingRequest",
    "ProcessingResponse",
    "body_response",
    "header_map",
    "headers_response",
    "immediate_response",
    "peer_address",
]

ProcessingRequest = ep.ProcessingRequest
ProcessingResponse = ep.ProcessingResponse

#: Where Envoy puts the values of ``request_attributes`` in a ProcessingRequest.
ATTRIBUTES_KEY = "envoy.filters.http.ext_proc"

_Mode = processing_mode_pb2.ProcessingMode
_OVERWRITE = base_pb2.HeaderValueOption.OVERWRITE_IF_EXISTS_OR_ADD


def header_map(headers: Any) -> dict[str, str]:
    """An ``HttpHeaders`` message's headers as a dict (names lower case, as Envoy sends them).

    Envoy fills ``raw_value`` (bytes) or ``value``; a repeated header's values are joined with
    ``,`` as HTTP allows.
    """
    out: dict[str, str] = {}
    for h in headers.headers.headers:
        value = h.raw_value.decode("utf-8", errors="replace") if h.raw_value else h.value
        key = h.key.lower()
        out[key] = f"{out[key]},{value}" if key in out else value
    return out


def peer_address(request: Any) -> str | None:
    """The downstream peer's IP, from the ``source.address`` request attribute (``ip:port``), if sent."""
    if ATTRIBUTES_KEY not in request.attributes:
        return None
    fields = request.attributes[ATTRIBUTES_KEY].fields
    if "source.address" not in fields:
        return None
    address = fields["source.address"].string_value
    if address.startswith("["):  # [v6]:port
        return address[1:].split("]", 1)[0] or None
    host, _, port = address.rpartition(":")
    return (host if port.isdigit() and host else address) or None


def _mutation(set_headers: Mapping[str, str] | None, remove: Iterable[str] | None) -> Any:
    if not set_headers and not remove:
        return None
    return ep.HeaderMutation(
        set_headers=[
            base_pb2.HeaderValueOption(
                header=base_pb2.HeaderValue(key=k.lower(), raw_value=v.encode("utf-8")), append_action=_OVERWRITE
            )
            for k, v in (set_headers or {}).items()
        ],
        remove_headers=[r.lower() for r in (remove or ())],
    )


def _common(
    set_headers: Mapping[str, str] | None = None,
    remove: Iterable[str] | None = None,
    body: bytes | None = None,
    clear_route_cache: bool = False,
) -> Any:
    common = ep.CommonResponse(status=ep.CommonResponse.CONTINUE, clear_route_cache=clear_route_cache)
    mutation = _mutation(set_headers, remove)
    if mutation is not None:
        common.header_mutation.CopyFrom(mutation)
    if body is not None:
        common.body_mutation.body = body
    return common


def _mode(*, request_body: bool, response_headers: bool, response_body: bool) -> Any:
    return _Mode(
        request_body_mode=_Mode.BUFFERED if request_body else _Mode.NONE,
        response_header_mode=_Mode.SEND if response_headers else _Mode.SKIP,
        response_body_mode=_Mode.STREAMED if response_body else _Mode.NONE,
    )


def headers_response(
    phase: str,
    *,
    set_headers: Mapping[str, str] | None = None,
    remove: Iterable[str] | None = None,
    clear_route_cache: bool = False,
    skip_rest: bool = False,
    skip_response_body: bool = False,
) -> Any:
    """Continue after the request or response headers (``phase``: ``request_headers`` / ``response_headers``).

    ``skip_rest`` asks Envoy (through ``mode_override``; needs ``allow_mode_override``) not to send
    this request's body nor its response; ``skip_response_body`` not to send the response body.
    """
    resp = ProcessingResponse()
    getattr(resp, phase).response.CopyFrom(_common(set_headers, remove, clear_route_cache=clear_route_cache))
    if skip_rest:
        resp.mode_override.CopyFrom(_mode(request_body=False, response_headers=False, response_body=False))
    elif skip_response_body:
        resp.mode_override.CopyFrom(_mode(request_body=False, response_headers=True, response_body=False))
    return resp


def body_response(
    phase: str,
    *,
    body: bytes | None = None,
    set_headers: Mapping[str, str] | None = None,
    remove: Iterable[str] | None = None,
    clear_route_cache: bool = False,
) -> Any:
    """Continue after a body message (``phase``: ``request_body`` / ``response_body``), replacing it with ``body``."""
    resp = ProcessingResponse()
    getattr(resp, phase).response.CopyFrom(_common(set_headers, remove, body, clear_route_cache))
    return resp


def immediate_response(status: int, body: bytes, headers: Mapping[str, str], *, details: str = "") -> Any:
    """Answer the client now, without calling the upstream (an error, a refusal, a cached answer)."""
    resp = ProcessingResponse()
    imm = resp.immediate_response
    imm.status.code = status  # envoy.type.v3.StatusCode numbers are the HTTP statuses
    imm.body = body
    mutation = _mutation(headers, None)
    if mutation is not None:
        imm.headers.CopyFrom(mutation)
    imm.details = details
    return resp
