"""The one exception hierarchy of sirp.

Every error sirp raises on purpose derives from :class:`SirpError`. Where a caller would
naturally catch a builtin, the sirp error mixes it in, so ``except ValueError`` keeps working::

    SirpError
    ├── ConfigError (ValueError)              bad configuration: field path and reason
    ├── InputError (ValueError)               a prompt sirp cannot route
    │   ├── PromptTypeError (TypeError)       a prompt of the wrong type
    │   ├── PromptTooLargeError               a prompt over the configured size limit (HTTP 413)
    │   └── RequestBlockedError               the jailbreak guard refused the request (policy block)
    ├── ModelLoadError                        model folder missing, incomplete or mismatched
    ├── BackendError (RuntimeError)           the classifier backend failed
    │   └── ProviderUnavailableError          an execution provider that is not installed
    ├── MissingDependencyError (ImportError)  an optional extra that is not installed
    ├── TrainingError                         training, export or verification failed
    ├── NoEligibleModelError                  no configured model may answer (e.g. PII, none local)
    ├── AccessError                           the server refused the caller (status_code says which)
    │   ├── AuthenticationError               401: missing or invalid credentials (JWT)
    │   ├── PermissionDeniedError             403: the caller's groups may not reach that model/tier
    │   ├── RateLimitError                    429: over requests/tokens per minute; retry_after says when
    │   └── AccessUnavailableError            503: the rate-limit store (Redis) cannot be reached
    └── UpstreamError (RuntimeError)          a model endpoint failed: status, timeout, bad answer
        └── AllAttemptsFailedError            every retry and fallback failed; lists each attempt

Messages say what happened, why, and what to do about it.
"""

from __future__ import annotations

from collections.abc import Sequence

__all__ = [
    "AccessError",
    "AccessUnavailableError",
    "AllAttemptsFailedError",
    "AuthenticationError",
    "BackendError",
    "ConfigError",
    "InputError",
    "MissingDependencyError",
    "ModelLoadError",
    "NoEligibleModelError",
    "PermissionDeniedError",
    "PromptTooLargeError",
    "PromptTypeError",
    "ProviderUnavailableError",
    "RateLimitError",
    "RequestBlockedError",
    "SirpError",
    "TrainingError",
    "UpstreamError",
]


class SirpError(Exception):
    """Root of every error sirp raises on purpose."""


class ConfigError(SirpError, ValueError):
    """A configuration value is invalid; the message names the field path and the reason."""


class InputError(SirpError, ValueError):
    """A prompt cannot be routed (empty, not valid text, no user turn, ...)."""


class PromptTypeError(InputError, TypeError):
    """A prompt has the wrong type (neither a string nor a list of chat messages)."""


class ModelLoadError(SirpError):
    """A model folder is missing, incomplete, corrupt or does not match its manifest."""


class BackendError(SirpError, RuntimeError):
    """The classifier backend failed to run a batch."""


class ProviderUnavailableError(BackendError):
    """An explicitly requested ONNX Runtime execution provider is not available here."""


class MissingDependencyError(SirpError, ImportError):
    """An optional dependency is not installed; the message gives the ``pip install`` line."""


class TrainingError(SirpError):
    """Training, export, quantisation or their verification failed."""


class NoEligibleModelError(SirpError):
    """No configured model may answer this request under the policy's rules.

    Raised, for instance, when a request carries personal data, ``policy.privacy.pii_action`` is
    ``local_only`` and no model is marked ``local: true``. The message names the rule and the fix.
    """


class AccessError(SirpError):
    """The server refused a caller before routing; ``status_code`` is the HTTP status to answer with."""

    status_code: int = 403


class AuthenticationError(AccessError):
    """Missing, malformed, expired or wrongly signed credentials (HTTP 401)."""

    status_code = 401


class PermissionDeniedError(AccessError):
    """The caller's groups may not use the requested model or tier (HTTP 403)."""

    status_code = 403


class RateLimitError(AccessError):
    """The caller is over its requests- or tokens-per-minute limit (HTTP 429).

    Attributes:
        retry_after: seconds until the limit admits the request again.
        headers: the ``x-ratelimit-*`` headers that describe the limit.
    """

    status_code = 429

    def __init__(self, message: str, *, retry_after: float, headers: dict[str, str] | None = None) -> None:
        super().__init__(message)
        self.retry_after = retry_after
        self.headers = dict(headers or {})


class UpstreamError(SirpError, RuntimeError):
    """A model endpoint failed to answer: connection error, timeout, HTTP error or unusable reply.

    Attributes:
        model: the configured model name that was called.
        kind: ``"connection"``, ``"timeout"``, ``"status"``, ``"invalid_response"``,
            ``"stream_broken"``, ``"config"`` or ``"all_failed"``.
        status_code: the HTTP status, when the endpoint answered with one.
        retry_after: seconds the endpoint asked to wait (``Retry-After``), if it said.
        is_retryable: whether calling the same endpoint again may succeed (connection errors,
            timeouts, 408, 429 and 5xx); sirp retries those with backoff, then falls back.
    """

    def __init__(
        self,
        message: str,
        *,
        model: str = "",
        kind: str = "status",
        status_code: int | None = None,
        retry_after: float | None = None,
        is_retryable: bool = False,
    ) -> None:
        super().__init__(message)
        self.model = model
        self.kind = kind
        self.status_code = status_code
        self.retry_after = retry_after
        self.is_retryable = is_retryable


class AllAttemptsFailedError(UpstreamError):
    """Every attempt of a request failed (retries and fallbacks); the message lists each one.

    ``attempts`` holds the attempt records (:class:`sirp.providers.Attempt`), in order.
    ``is_retryable`` is true when at least one failure was transient, so the same request may
    succeed later.
    """

    def __init__(self, message: str, attempts: Sequence[object], *, is_retryable: bool = False) -> None:
        lines = [message, *(f"  {i}. {a}" for i, a in enumerate(attempts, 1))]
        super().__init__("\n".join(lines), kind="all_failed", is_retryable=is_retryable)
        self.attempts = list(attempts)


class PromptTooLargeError(InputError):
    """A prompt or request body is larger than the configured limit (``sirp serve`` answers HTTP 413).

    Attributes:
        limit: the limit that was exceeded.
        size: the size that was found, in the same unit.
    """

    def __init__(self, message: str, *, limit: int, size: int) -> None:
        super().__init__(message)
        self.limit = limit
        self.size = size


class AccessUnavailableError(AccessError):
    """Access cannot be decided right now: the shared rate-limit store is unreachable (HTTP 503).

    Raised only with ``server.access.rate_limits.fail_open: false``; otherwise such requests are
    admitted unchecked (and logged).
    """

    status_code = 503


class RequestBlockedError(InputError):
    """The guards refused the request before any model was called (``sirp serve``/``extproc``: HTTP 403).

    Raised by ``complete``/``stream`` (and their async twins) when the jailbreak head calls the
    request an attack and ``policy.jailbreak.action`` (or its category's ``jailbreak_action``) is
    ``block``. ``route()`` never raises it: its decision says ``blocked=True``.

    Attributes:
        score: the request's calibrated jailbreak score.
    """

    def __init__(self, message: str, *, score: float) -> None:
        super().__init__(message)
        self.score = score
