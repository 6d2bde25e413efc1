"""Tool pre-filtering: a request carrying many tools keeps the ``top_k`` most relevant to its prompt.

Models choose tools worse, and cost more, as the tool list grows; most of a large list has
nothing to do with a given prompt. With ``policy.tools.enabled``, dispatch embeds the prompt (its
last user turn) and each tool as ``"name: description"`` with the classifier's own embedding
output, and keeps the ``top_k`` tools of highest cosine similarity, in their original order.
A tool that ``tool_choice`` names is always kept. Tool embeddings are cached by text: the same
tool lists come back request after request.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import numpy as np

from sirp.config.schema import ToolsConfig
from sirp.decision import TraceStep
from sirp.errors import ConfigError, InputError

__all__ = ["Embed", "ToolFilter", "select_tools", "tool_name", "tool_text"]

#: Texts in, one embedding per text out (``None`` where the classifier has no embedding output).
Embed = Callable[[Sequence[str]], Sequence[np.ndarray | None]]

#: Tool texts whose embeddings are kept between requests.
_CACHE_SIZE = 4096


def _function(tool: Any) -> Mapping[str, Any]:
    if not isinstance(tool, Mapping):
        raise InputError(f"each tool must be a mapping ({{'type': 'function', 'function': {{...}}}}), got {tool!r}")
    fn = tool.get("function")
    # Chat-completions tools nest the function; Responses-style tools are flat.
    return fn if isinstance(fn, Mapping) else tool


def tool_name(tool: Any) -> str:
    """The function name of an OpenAI tool definition ('' when it has none)."""
    return str(_function(tool).get("name") or "")


def tool_text(tool: Any) -> str:
    """What a tool is embedded as: ``"name: description"`` (the name alone without a description)."""
    fn = _function(tool)
    name = str(fn.get("name") or "")
    description = " ".join(str(fn.get("description") or "").split())
    return f"{name}: {description}" if description else name


def _unit(v: np.ndarray) -> np.ndarray:
    v = np.asarray(v, dtype=np.float64).ravel()
    n = float(np.linalg.norm(v))
    return v / n if n > 0 else v


def select_tools(
    tools: Sequence[Any],
    prompt_vec: np.ndarray,
    tool_vecs: Sequence[np.ndarray],
    top_k: int,
    *,
    keep: frozenset[str] = frozenset(),
) -> tuple[list[int], list[float]]:
    """Indices of the ``top_k`` tools most similar to the prompt, in their original order, and every similarity.

    Tools named in ``keep`` are kept whatever their similarity (they count towards ``top_k``).
    """
    p = _unit(prompt_vec)
    sims = [float(_unit(v) @ p) for v in tool_vecs]
    forced = [i for i, t in enumerate(tools) if tool_name(t) in keep]
    rest = sorted((i for i in range(len(tools)) if i not in forced), key=lambda i: -sims[i])
    chosen = set(forced) | set(rest[: max(0, top_k - len(forced))])
    return sorted(chosen), sims


def _named_choice(tool_choice: Any) -> frozenset[str]:
    if isinstance(tool_choice, Mapping):
        fn = tool_choice.get("function")
        name = fn.get("name") if isinstance(fn, Mapping) else tool_choice.get("name")
        if isinstance(name, str):
            return frozenset({name})
    return frozenset()


class ToolFilter:
    """Applies ``policy.tools`` to a request's ``tools``; made by the dispatcher, shared by its requests."""

    def __init__(self, config: ToolsConfig, embed: Embed | None) -> None:
        self.config = config
        self.embed = embed
        self._cache: OrderedDict[str, np.ndarray] = OrderedDict()

    def applies(self, tools: Any) -> bool:
        """Whether a request with these tools gets filtered."""
        return self.config.enabled and isinstance(tools, list) and len(tools) > self.config.top_k

    def _vectors(self, prompt: str, texts: Sequence[str]) -> tuple[np.ndarray, list[np.ndarray]]:
        if self.embed is None:
            raise ConfigError(
                "policy.tools.enabled needs the classifier's embeddings, and this dispatcher has none; "
                "call through SemanticRouter.complete(), or turn policy.tools off"
            )
        missing = list(dict.fromkeys(t for t in texts if t not in self._cache))
        # One classifier pass for the prompt and every tool not seen before; prompts are not
        # cached (they rarely repeat and would push the tools out).
        vecs = list(self.embed([prompt, *missing]))
        if any(v is None for v in vecs):
            raise ConfigError(
                "policy.tools.enabled needs a classifier model with an embedding output, and this one "
                "has none; use a model folder that has one (the bundled one does), or turn policy.tools off"
            )
        for text, vec in zip(missing, vecs[1:], strict=True):
            self._cache[text] = np.asarray(vec)
        out = []
        for t in texts:
            out.append(self._cache[t])
            self._cache.move_to_end(t)
        while len(self._cache) > _CACHE_SIZE:
            self._cache.popitem(last=False)
        return np.asarray(vecs[0]), out

    def filter(self, prompt: str, tools: list[Any], tool_choice: Any = None) -> tuple[list[Any], TraceStep]:
        """The tools to send, and the trace step that says which were kept and why."""
        texts = [tool_text(t) for t in tools]
        prompt_vec, tool_vecs = self._vectors(prompt, texts)
        kept, sims = select_tools(tools, prompt_vec, tool_vecs, self.config.top_k, keep=_named_choice(tool_choice))
        shown = ", ".join(f"{tool_name(tools[i])} {sims[i]:.2f}" for i in kept)
        step = TraceStep(
            rule="tools.filter",
            detail=f"kept {len(kept)} of {len(tools)} tools most similar to the prompt (top_k "
            f"{self.config.top_k}): {shown}",
        )
        return [tools[i] for i in kept], step
