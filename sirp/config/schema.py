"""Typed router configuration (pydantic v2, ``extra="forbid"``: a typo is an error, not a default)."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

from pydantic import Field, field_validator, model_validator

from sirp.config.access import AccessConfig
from sirp.config.base import TIER_ORDER, FieldPathError
from sirp.config.base import StrictModel as _Model
from sirp.config.cache import CacheConfig
from sirp.config.policy import (
    CategoryConfig,
    Effort,
    JailbreakConfig,
    PolicyConfig,
    PrivacyConfig,
    ReasoningConfig,
    ToolsConfig,
)
from sirp.config.providers import HealthConfig, ProviderEndpoint, check_env_name, check_http_url
from sirp.config.server import ServerConfig
from sirp.decision import Tier

__all__ = [
    "AccessConfig",
    "CacheConfig",
    "CategoryConfig",
    "ClassifierConfig",
    "ConversationConfig",
    "DispatchConfig",
    "Effort",
    "FieldPathError",
    "HealthConfig",
    "JailbreakConfig",
    "Modality",
    "ModelConfig",
    "PolicyConfig",
    "PrivacyConfig",
    "ProviderEndpoint",
    "ReasoningConfig",
    "ReasoningFamily",
    "RouterConfig",
    "ServerConfig",
    "TierConfig",
    "ToolsConfig",
]

#: How a model is told to reason (see :func:`sirp.providers.reasoning.apply_reasoning`).
ReasoningFamily = Literal["qwen3", "deepseek", "openai", "gpt-oss", "anthropic", "gemini", "prompt", "none"]

#: What a model accepts as input besides text (capability negotiation of ``sirp serve``).
Modality = Literal["text", "image", "audio", "file"]


class ClassifierConfig(_Model):
    """Which classifier model runs, and how."""

    model: Path | None = Field(default=None, description="model folder; null = the bundled default model")
    precision: Literal["auto", "int8", "fp32"] = Field(
        default="auto", description="graph of the model folder that runs; auto = int8 when there is one, else fp32"
    )
    provider: str | list[str] = Field(default="auto", description="'auto', 'cpu', 'cuda', 'rocm', or a list")
    threads: int | None = Field(default=None, ge=1, description="intra-op threads; null = one per core")
    graph_optimization: Literal["disable", "basic", "extended", "all"] = Field(
        default="all", description="ONNX Runtime graph optimisation level"
    )
    max_length: int = Field(default=512, ge=8, description="tokens kept per request; longer ones are truncated")
    truncation_side: Literal["right", "left"] = Field(
        default="right", description="'right' keeps the start of a long request, 'left' keeps its end"
    )
    max_prompt_chars: int | None = Field(
        default=50_000, ge=1, description="longer prompts are refused with an InputError; null = no limit"
    )
    batch_size: int = Field(default=32, ge=1, description="requests per classifier pass in route_batch")

    @field_validator("provider")
    @classmethod
    def _known_provider(cls, value: str | list[str]) -> str | list[str]:
        from sirp.backends.providers import check_provider_names

        try:
            check_provider_names(value)
        except ValueError as err:  # ConfigError is a ValueError: pydantic adds the field path
            raise ValueError(str(err)) from None
        return value


class ConversationConfig(_Model):
    """How a message list becomes the text that is classified."""

    window: int = Field(default=3, ge=0, description="earlier user turns that may serve as context")
    min_confidence: float = Field(
        default=0.5,
        ge=0,
        le=1,
        description="when the last user turn alone gives a category confidence below this, "
        "classify it together with the earlier turns",
    )


class TierConfig(_Model):
    """One tier: the model that answers for it and the reference model the success head predicts."""

    name: Tier = Field(description="slm, srm, llm or lrm; tiers are listed cheapest first")
    model: str = Field(min_length=1, description="model name sent to the provider")
    reference_model: str = Field(
        min_length=1, description="success-head reference model this tier stands for (must be in the model folder)"
    )
    reasoning_budget_tokens: int | None = Field(
        default=None,
        ge=1,
        description="most reasoning tokens a model of this tier may spend when it reasons, written in its "
        "family's syntax (Anthropic budget_tokens, Gemini thinking_budget, a hint for prompt-only models); "
        "null = the family's default for the decided effort",
    )


def _text_only() -> list[Modality]:
    return ["text"]


class ModelConfig(_Model):
    """One model endpoint sirp can call: where it is, how it is told to reason, what it costs."""

    name: str = Field(
        min_length=1, description="model name: what tiers and fallback refer to, and what is sent as 'model'"
    )
    tier: Tier = Field(description="the tier this model answers for: slm, srm, llm or lrm")
    base_url: str | None = Field(
        default=None,
        description="OpenAI-compatible base URL, e.g. http://localhost:8000/v1 (vLLM) or https://api.openai.com/v1; "
        "give this or providers",
    )
    providers: list[ProviderEndpoint] = Field(
        default_factory=list,
        description="several endpoints serving this model, balanced by weight, with health tracking and failover "
        "(instead of base_url)",
    )
    api_key_env: str | None = Field(
        default=None,
        description="name of the environment variable that holds the API key, read at call time "
        "(the key itself never goes in the config); null = no key (local servers)",
    )
    family: ReasoningFamily = Field(
        default="none",
        description="how reasoning is switched on and off: qwen3 (chat_template_kwargs.enable_thinking), "
        "deepseek (chat_template_kwargs.thinking), openai (reasoning_effort; 'minimal' when off), "
        "gpt-oss (reasoning_effort; 'low' when off), anthropic (thinking.budget_tokens), "
        "gemini (thinking_budget; 0 when off), prompt (a chain-of-thought system instruction), none",
    )
    price_input_per_m: float = Field(default=0.0, ge=0, description="USD per 1M prompt tokens")
    price_output_per_m: float = Field(
        default=0.0, ge=0, description="USD per 1M completion tokens (reasoning tokens are billed as completion)"
    )
    context_length: int | None = Field(default=None, ge=1, description="context window in tokens, if known")
    modalities: list[Modality] = Field(
        default_factory=_text_only,
        min_length=1,
        description="what the model accepts as input: text, image, audio, file; a request carrying an image "
        "is routed only to models that list image (sirp serve's capability negotiation)",
    )
    tool_calling: bool = Field(
        default=True, description="accepts tools (function calling); a request with tools avoids models without"
    )
    local: bool = Field(default=False, description="runs on your own infrastructure (eligible for private data)")
    timeout_s: float = Field(default=60.0, gt=0, description="time limit of one attempt, in seconds")
    max_retries: int = Field(
        default=2, ge=0, le=10, description="retries after a transient failure (connection, timeout, 408, 429, 5xx)"
    )

    @field_validator("base_url")
    @classmethod
    def _http_url(cls, value: str | None) -> str | None:
        return None if value is None else check_http_url(value)

    @field_validator("api_key_env")
    @classmethod
    def _env_name(cls, value: str | None) -> str | None:
        return check_env_name(value)

    @model_validator(mode="after")
    def _one_way_to_reach_it(self) -> ModelConfig:
        if self.base_url is None and not self.providers:
            raise FieldPathError(
                ("base_url",), "is required: give the model's base_url, or a providers: list of endpoints serving it"
            )
        if self.base_url is not None and self.providers:
            raise FieldPathError(
                ("providers",),
                "give base_url or providers, not both (list the base_url as one of the providers instead)",
            )
        seen: set[str] = set()
        for i, p in enumerate(self.providers):
            if p.label in seen:
                raise FieldPathError(
                    ("providers", i, "name"),
                    f"{p.label!r} names two providers of {self.name!r}; give each a distinct name:",
                )
            seen.add(p.label)
        return self

    def endpoints(self) -> list[ProviderEndpoint]:
        """The providers that serve this model, each complete: name, key variable and timeout filled in.

        A model configured with ``base_url`` alone has one provider, named after the URL's host.
        """
        given = self.providers or [ProviderEndpoint(base_url=self.base_url or "")]
        return [
            p.model_copy(
                update={
                    "name": p.label,
                    "api_key_env": p.api_key_env or self.api_key_env,
                    "timeout_s": p.timeout_s or self.timeout_s,
                }
            )
            for p in given
        ]

    @property
    def cost_per_token(self) -> tuple[float, float]:
        """USD per prompt token and per completion token."""
        return self.price_input_per_m / 1e6, self.price_output_per_m / 1e6


class DispatchConfig(_Model):
    """How a request to the chosen model is retried and how long it may take in all."""

    time_budget_s: float = Field(
        default=120.0, gt=0, description="time for one request in all: every attempt, retry and backoff wait"
    )
    backoff_initial_s: float = Field(default=0.5, ge=0, description="wait before the first retry of a model")
    backoff_multiplier: float = Field(default=2.0, ge=1, description="each further retry waits this much longer")
    backoff_max_s: float = Field(default=8.0, ge=0, description="longest wait between retries (unless Retry-After)")
    health: HealthConfig = Field(
        default_factory=HealthConfig,
        description="when a provider of a model is ejected after failures, and when it is probed again",
    )


def _default_tiers() -> list[TierConfig]:
    return [
        TierConfig(name="slm", model="llama-3.1-8b-instruct", reference_model="Meta-Llama-3_1-8B-Instruct"),
        TierConfig(name="llm", model="llama-3.1-70b-instruct", reference_model="Meta-Llama-3_1-70B-Instruct"),
    ]


class RouterConfig(_Model):
    """Everything a :class:`~sirp.SemanticRouter` needs. Load with :meth:`from_yaml` / :meth:`from_dict`."""

    classifier: ClassifierConfig = ClassifierConfig()
    conversation: ConversationConfig = ConversationConfig()
    tiers: list[TierConfig] = Field(default_factory=_default_tiers, min_length=1)
    policy: PolicyConfig = PolicyConfig()
    models: list[ModelConfig] = Field(
        default_factory=list,
        description="endpoints sirp calls in complete()/stream(); when given, every tier's model must be one",
    )
    fallback: list[str] = Field(
        default_factory=list,
        description="model names tried in this order when the chosen model fails after its retries",
    )
    dispatch: DispatchConfig = DispatchConfig()
    categories: list[CategoryConfig] = Field(
        default_factory=list,
        description="per-category rules: model scores, reasoning on/off, effort and budget, system prompt; "
        "names must be labels of the classifier (checked when the router is built)",
    )
    server: ServerConfig = ServerConfig()
    cache: CacheConfig = CacheConfig()

    @field_validator("tiers")
    @classmethod
    def _tiers_ordered(cls, tiers: list[TierConfig]) -> list[TierConfig]:
        names = [t.name for t in tiers]
        if len(set(names)) != len(names):
            raise ValueError(f"tier names must be unique, got {names}")
        if names != sorted(names, key=TIER_ORDER.__getitem__):
            raise ValueError(f"tiers must be listed cheapest first (slm, srm, llm, lrm), got {names}")
        return tiers

    @model_validator(mode="after")
    def _models_consistent(self) -> RouterConfig:
        if not self.models:
            if self.fallback:
                raise FieldPathError(
                    ("fallback",), "names models, but no models are configured; add them under models:"
                )
            return self
        by_name: dict[str, ModelConfig] = {}
        for i, m in enumerate(self.models):
            if m.name in by_name:
                raise FieldPathError(
                    ("models", i, "name"), f"{m.name!r} is configured twice; model names must be unique"
                )
            by_name[m.name] = m
        known = ", ".join(by_name)
        for i, t in enumerate(self.tiers):
            endpoint = by_name.get(t.model)
            if endpoint is None:
                raise FieldPathError(
                    ("tiers", i, "model"),
                    f"{t.model!r} is not a configured model (models: {known}); add it under models: or fix the name",
                )
            if endpoint.tier != t.name:
                raise FieldPathError(
                    ("tiers", i, "model"),
                    f"{t.model!r} is configured with tier {endpoint.tier!r} under models:, "
                    f"but answers for tier {t.name!r} here; make the two agree",
                )
        for i, name in enumerate(self.fallback):
            if name not in by_name:
                raise FieldPathError(
                    ("fallback", i), f"{name!r} is not a configured model (models: {known}); add it under models:"
                )
            if name in self.fallback[:i]:
                raise FieldPathError(("fallback", i), f"{name!r} is listed twice")
        return self

    @model_validator(mode="after")
    def _cutpoints_fit_tiers(self) -> RouterConfig:
        p = self.policy
        names = [t.name for t in self.tiers]
        for tier in p.complexity_cutpoints:
            if tier not in names:
                raise FieldPathError(
                    ("policy", "complexity_cutpoints", tier),
                    f"tier {tier!r} is not configured (tiers: {', '.join(names)}); remove it or add the tier",
                )
            if tier == names[0]:
                raise FieldPathError(
                    ("policy", "complexity_cutpoints", tier),
                    f"{tier} is the cheapest tier: it answers below every cut-point, so it takes none; "
                    "give cut-points for the stronger tiers only",
                )
        if p.tier_rule == "complexity":
            missing = [n for n in names[1:] if n not in p.complexity_cutpoints]
            if missing:
                example = ", ".join(f"{n}: 0.{5 + i}" for i, n in enumerate(names[1:]))
                raise FieldPathError(
                    ("policy", "complexity_cutpoints"),
                    f"tier_rule complexity needs a cut-point for every tier above the cheapest; missing: "
                    f"{', '.join(missing)} (e.g. complexity_cutpoints: {{{example}}})",
                )
        return self

    @model_validator(mode="after")
    def _categories_consistent(self) -> RouterConfig:
        # With endpoints, a category may prefer any of them; without, only the tiers' models exist.
        known = [m.name for m in self.models] if self.models else [t.model for t in self.tiers]
        where = "models:" if self.models else "tiers[].model (no models: are configured)"
        seen: set[str] = set()
        for i, c in enumerate(self.categories):
            if c.name in seen:
                raise FieldPathError(
                    ("categories", i, "name"), f"{c.name!r} is configured twice; give each category one entry"
                )
            seen.add(c.name)
            for name in c.model_scores:
                if name not in known:
                    raise FieldPathError(
                        ("categories", i, "model_scores", name),
                        f"{name!r} is not a configured model (known from {where}: {', '.join(known)}); "
                        "fix the name or add the model",
                    )
        return self

    @model_validator(mode="after")
    def _privacy_possible(self) -> RouterConfig:
        privacy = self.policy.privacy
        known = [m.name for m in self.models] if self.models else [t.model for t in self.tiers]
        for name in privacy.models:
            if name not in known:
                raise FieldPathError(
                    ("policy", "privacy", "models", name),
                    f"{name!r} is not a configured model ({', '.join(known)}); fix the name or add the model",
                )
        if "local_only" in privacy.actions and self.models and not any(m.local for m in self.models):
            where = ("pii_action",) if privacy.pii_action == "local_only" else ("models",)
            raise FieldPathError(
                ("policy", "privacy", *where),
                "local_only needs at least one model with local: true under models: (a model you run "
                "yourself); mark one, or use pii_action: allow or mask",
            )
        return self

    def endpoint(self, name: str) -> ModelConfig | None:
        """The configured endpoint called ``name``, or ``None``."""
        return next((m for m in self.models if m.name == name), None)

    def category(self, name: str | None) -> CategoryConfig | None:
        """The ``categories:`` entry called ``name``, or ``None``."""
        return next((c for c in self.categories if c.name == name), None) if name is not None else None

    @classmethod
    def from_dict(cls, data: dict[str, object]) -> RouterConfig:
        """Validate a mapping; errors name the field path."""
        from sirp.config.loader import config_from_dict

        return config_from_dict(data)

    @classmethod
    def from_yaml(cls, path: str | Path) -> RouterConfig:
        """Read and validate a YAML file; errors name the file and the field path."""
        from sirp.config.loader import config_from_yaml

        return config_from_yaml(path)
