"""Who may call the server, what they may reach, and how often (identity, RBAC, rate limits).

Owned by the server's access layer (:mod:`sirp.server.access`); filled in by the multi-provider/access work.
"""

from __future__ import annotations

from sirp.config.base import StrictModel as _Model

__all__ = ["AccessConfig"]


class AccessConfig(_Model):
    """Identity headers, JWT verification, RBAC and rate limits of ``sirp serve`` (all off by default)."""
