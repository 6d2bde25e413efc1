"""Errors in OpenAI's format, ``{"error": {"message", "type", "code", "param"}}``, with the right status.

Every failure a request can meet becomes an :class:`APIError` here, in one place:

======================================  ======  ===========================  ==========================
what                                    status  type                         code
======================================  ======  ===========================  ==========================
body not JSON, a bad field              400     invalid_request_error        invalid_json / invalid_value
no model has what the request needs     400     invalid_request_error        no_eligible_model
missing or bad credentials              401     authentication_error         invalid_authentication
a model or tier above the caller's      403     permission_error             permission_denied
refused by the jailbreak guard          403     permission_error             request_blocked
unknown model, response or route        404     invalid_request_error        model_not_found / not_found
body or prompt over the limit           413     invalid_request_error        request_too_large
over a rate limit                       429     rate_limit_error             rate_limit_exceeded
every model attempt failed              502     upstream_error               upstream_error
the models are overloaded (429/503)     503     upstream_error               upstream_unavailable
the models timed out                    504     upstream_error               upstream_timeout
access control unavailable (its Redis)  503     server_error                 access_unavailable
anything else                           500     server_error                 internal_error
======================================  ======  ===========================  ==========================

A 500 never shows internals: the message gives the request id, and the log has the traceback.
Upstream failures list each attempt's model and status, never the endpoint's URL or free text
(a 4xx the model itself gave to the caller's input is the exception: its message is the point).
"""

from __future__ import annotations

import logging
import math
from collections.abc import Mapping, Sequence
from typing import Any

from sirp.errors import (
    AccessError,
    AccessUnavailableError,
    AuthenticationError,
    InputError,
    NoEligibleModelError,
    PermissionDeniedError,
    PromptTooLargeError,
    RateLimitError,
    RequestBlockedError,
    UpstreamError,
)

__all__ = ["APIError", "api_error", "error_body"]

logger = logging.getLogger("sirp.server")

#: Upstream statuses that mean "the caller's input was rejected", not "the model is broken".
_CLIENT_STATUSES = frozenset({400, 413, 422})
_OVERLOAD_STATUSES = frozenset({429, 503})


class APIError(Exception):
    """An error the server answers with, in OpenAI's format.

    Attributes:
        status_code: the HTTP status.
        message: what happened and what to do, for the caller.
        type: OpenAI's error ``type`` (``invalid_request_error``, ``rate_limit_error``, ...).
        code: a stable, machine-readable code, or ``None``.
        param: the request field at fault, or ``None``.
        headers: extra response headers (``retry-after``, ``x-ratelimit-*``).
    """

    def __init__(
        self,
        status_code: int,
        message: str,
        *,
        type: str = "invalid_request_error",
        code: str | None = None,
        param: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.headers = dict(headers or {})

    def body(self) -> dict[str, Any]:
        """The JSON body: ``{"error": {...}}``."""
        return error_body(self.message, type=self.type, code=self.code, param=self.param)


def error_body(message: str, *, type: str, code: str | None = None, param: str | None = None) -> dict[str, Any]:
    """An OpenAI-format error object."""
    return {"error": {"message": message, "type": type, "code": code, "param": param}}


def _attempt_text(a: Any) -> str:
    status = f"HTTP {a.status_code}" if a.status_code is not None else (a.kind or "error")
    return f"{a.model} {status}"


def _upstream(exc: UpstreamError) -> APIError:
    if exc.kind == "config":
        # a missing API key variable and the like: the operator's to fix, not the caller's to read
        logger.error("model %r is misconfigured: %s", exc.model, exc)
        return APIError(
            500,
            f"model {exc.model!r} is not set up correctly on this server",
            type="server_error",
            code="internal_error",
        )
    attempts: Sequence[Any] = [a for a in getattr(exc, "attempts", []) if not a.ok]
    statuses = [a.status_code for a in attempts]
    kinds = [a.kind for a in attempts] or [exc.kind]
    tried = ", ".join(_attempt_text(a) for a in attempts) or exc.model or "the model"
    if attempts and all(s in _CLIENT_STATUSES for s in statuses):
        # Every model refused the input itself (a bad tool schema, too many tokens): the caller's to fix.
        return APIError(
            statuses[-1] or 400, f"the model rejected the request: {attempts[-1].error}", code="upstream_rejected"
        )
    if all(k == "timeout" for k in kinds) or "time budget" in str(exc):
        return APIError(
            504, f"the model did not answer in time ({tried})", type="upstream_error", code="upstream_timeout"
        )
    if attempts and all(s in _OVERLOAD_STATUSES for s in statuses):
        return APIError(
            503,
            f"the models are overloaded or rate limited ({tried}); retry later",
            type="upstream_error",
            code="upstream_unavailable",
            headers={"retry-after": "1"},
        )
    return APIError(502, f"the model failed to answer ({tried})", type="upstream_error", code="upstream_error")


def _code(exc: BaseException, default: str) -> str:
    # an error class may name its own code (e.g. a guard's refusal), else the family's applies
    code = getattr(exc, "code", None)
    return code if isinstance(code, str) and code else default


def api_error(exc: BaseException, *, request_id: str | None = None) -> APIError:
    """The :class:`APIError` to answer ``exc`` with; unexpected exceptions are logged and hidden."""
    if isinstance(exc, APIError):
        return exc
    if isinstance(exc, RateLimitError):
        headers = {**exc.headers, "retry-after": str(max(1, math.ceil(exc.retry_after)))}
        return APIError(429, str(exc), type="rate_limit_error", code="rate_limit_exceeded", headers=headers)
    if isinstance(exc, AuthenticationError):
        return APIError(
            401,
            str(exc),
            type="authentication_error",
            code="invalid_authentication",
            headers={"www-authenticate": "Bearer"},
        )
    if isinstance(exc, PermissionDeniedError):
        return APIError(403, str(exc), type="permission_error", code="permission_denied")
    if isinstance(exc, AccessUnavailableError):
        logger.error("access cannot be decided: %s", exc)
        return APIError(
            503,
            "access control is unavailable right now; retry later",
            type="server_error",
            code="access_unavailable",
            headers={"retry-after": "1"},
        )
    if isinstance(exc, AccessError):
        status = exc.status_code
        kind = {401: "authentication_error", 403: "permission_error", 429: "rate_limit_error"}
        return APIError(
            status, str(exc), type=kind.get(status, "invalid_request_error"), code=_code(exc, "access_denied")
        )
    if isinstance(exc, RequestBlockedError):
        # A refusal of the request's content, not a malformed request: 403, as sirp extproc answers.
        return APIError(403, str(exc), type="permission_error", code=_code(exc, "request_blocked"))
    if isinstance(exc, PromptTooLargeError):
        return APIError(413, str(exc), code="request_too_large")
    if isinstance(exc, NoEligibleModelError):
        return APIError(400, str(exc), code="no_eligible_model")
    if isinstance(exc, InputError):
        return APIError(400, str(exc), code=_code(exc, "invalid_value"))
    if isinstance(exc, UpstreamError):
        return _upstream(exc)
    logger.error("internal error in request %s", request_id, exc_info=exc)
    where = f" (request id {request_id})" if request_id else ""
    return APIError(
        500, f"the server failed to handle the request{where}; see its log", type="server_error", code="internal_error"
    )
