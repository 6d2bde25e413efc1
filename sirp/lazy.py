"""A router built on first use, for framework adapters (LangChain, LlamaIndex) that are often made but not run."""

from __future__ import annotations

import asyncio
import threading

from sirp.config.schema import RouterConfig
from sirp.router import SemanticRouter

__all__ = ["LazyRouter"]


class LazyRouter:
    """Holds a :class:`~sirp.SemanticRouter`, building it from the config on first use.

    Building one loads the classifier (about a second for the bundled model), so an adapter that is
    only constructed, serialised or bound never pays for it.
    """

    def __init__(self, router: SemanticRouter | None, config: RouterConfig | None) -> None:
        self._router = router
        self._config = config
        self._lock = threading.Lock()

    @property
    def config(self) -> RouterConfig:
        """The router's configuration (the built-in default when none was given)."""
        if self._router is not None:
            return self._router.config
        if self._config is None:
            self._config = RouterConfig()
        return self._config

    @property
    def built(self) -> bool:
        """Whether the router exists already (building it would not block)."""
        return self._router is not None

    def get(self) -> SemanticRouter:
        """The router, built on the first call."""
        if self._router is None:
            with self._lock:
                if self._router is None:
                    self._router = SemanticRouter(self.config)
        return self._router

    async def aget(self) -> SemanticRouter:
        """:meth:`get` for async callers: a first build runs in a worker thread, off the event loop."""
        if self._router is None:
            return await asyncio.to_thread(self.get)
        return self._router
