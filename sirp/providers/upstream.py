"""Turning what the ``openai`` client (or its HTTP layer) raises into :class:`~sirp.errors.UpstreamError`.

Transient failures are retryable: connection errors, timeouts, HTTP 408, 429 and 5xx. An
answer that is not a chat completion (garbage, HTML, a broken event stream) is not: the same
endpoint will most likely answer the same way, so sirp falls back instead of retrying.
"""

from __future__ import annotations

import email.utils
import json
import time
from collections.abc import Mapping
from typing import Any

from sirp.errors import SirpError, UpstreamError

__all__ = ["RETRYABLE_STATUS", "parse_retry_after", "to_upstream_error"]

#: HTTP statuses worth retrying on the same endpoint (besides every 5xx).
RETRYABLE_STATUS = frozenset({408, 429})

_MAX_BODY = 200


def parse_retry_after(headers: Mapping[str, str] | Any) -> float | None:
    """Seconds to wait from ``retry-after-ms`` or ``Retry-After`` (seconds or an HTTP date)."""
    if headers is None:
        return None
    ms = headers.get("retry-after-ms")
    if ms is not None:
        try:
            return max(0.0, float(ms) / 1000)
        except ValueError:
            pass
    value = headers.get("retry-after")
    if value is None:
        return None
    try:
        return max(0.0, float(value))
    except ValueError:
        pass
    try:
        when = email.utils.parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    return max(0.0, when.timestamp() - time.time())


def _short(body: Any) -> str:
    if isinstance(body, Mapping):
        err = body.get("error", body)
        if isinstance(err, Mapping) and isinstance(err.get("message"), str):
            text = err["message"]
        else:
            text = json.dumps(body, default=str)
    else:
        text = str(body)
    text = " ".join(text.split())
    return text if len(text) <= _MAX_BODY else text[:_MAX_BODY] + "…"


def _mro_names(err: BaseException) -> set[str]:
    return {c.__name__ for c in type(err).__mro__}


def to_upstream_error(err: BaseException, model: str) -> UpstreamError | None:
    """The :class:`UpstreamError` for ``err`` raised while calling ``model``; ``None`` if it is not one.

    ``None`` means the exception is not an endpoint failure (a bug, a bad argument) and should
    propagate unchanged rather than trigger retries and fallbacks.
    """
    if isinstance(err, UpstreamError):
        return err
    if isinstance(err, SirpError):  # a missing extra, a bad argument: not the endpoint's fault
        return None
    import openai

    if isinstance(err, openai.APITimeoutError):
        return UpstreamError(f"timed out ({err})", model=model, kind="timeout", is_retryable=True)
    if isinstance(err, openai.APIConnectionError):
        cause = err.__cause__ or err.__context__
        detail = f"{err}" + (f" ({type(cause).__name__}: {cause})" if cause is not None else "")
        return UpstreamError(f"connection failed: {detail}", model=model, kind="connection", is_retryable=True)
    if isinstance(err, openai.APIResponseValidationError):
        return UpstreamError(
            f"answered HTTP {err.status_code} with a body that is not a chat completion: {_short(err.body)}",
            model=model,
            kind="invalid_response",
            status_code=err.status_code,
        )
    if isinstance(err, openai.APIStatusError):
        status = err.status_code
        retryable = status in RETRYABLE_STATUS or status >= 500
        return UpstreamError(
            f"HTTP {status}: {_short(err.body)}",
            model=model,
            kind="status",
            status_code=status,
            retry_after=parse_retry_after(err.response.headers),
            is_retryable=retryable,
        )
    if isinstance(err, openai.APIError):  # e.g. an error event inside a stream
        return UpstreamError(f"the endpoint reported an error: {err.message}", model=model, kind="status")
    if isinstance(err, json.JSONDecodeError):
        return UpstreamError(
            f"answered with something that is not JSON ({err.msg} at position {err.pos}); "
            "is base_url an OpenAI-compatible /v1 endpoint?",
            model=model,
            kind="invalid_response",
        )
    # What the HTTP layer (httpx, or its successor the client uses) raises while a stream is read.
    names = _mro_names(err)
    if "TimeoutException" in names:
        return UpstreamError(f"timed out ({type(err).__name__}: {err})", model=model, kind="timeout", is_retryable=True)
    if "TransportError" in names:
        return UpstreamError(
            f"connection failed ({type(err).__name__}: {err})", model=model, kind="connection", is_retryable=True
        )
    return None
