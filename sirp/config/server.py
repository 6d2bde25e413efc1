"""Settings of ``sirp serve`` (the OpenAI-compatible router server)."""

from __future__ import annotations

from sirp.config.access import AccessConfig
from sirp.config.base import StrictModel as _Model

__all__ = ["ServerConfig"]


class ServerConfig(_Model):
    """How the OpenAI-compatible server behaves; the routing itself is the rest of :class:`RouterConfig`."""

    access: AccessConfig = AccessConfig()
