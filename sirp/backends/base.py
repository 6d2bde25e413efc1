"""The backend protocol: a tokenised batch in, one array per model output out.

Kept this small on purpose (like an httpx transport) so that another runtime — a Rust Candle
backend through PyO3, say — can slot in behind it without touching signals or policy. A backend
knows nothing about categories or tiers; it runs a graph.
"""

from __future__ import annotations

import abc
from types import TracebackType

import numpy as np

from sirp.backends.tokenization import TokenizedBatch

__all__ = ["Backend"]


class Backend(abc.ABC):
    """Runs a routing model on tokenised batches. Use it as a context manager or call close()."""

    #: Execution providers in use, best first (e.g. ``["CPUExecutionProvider"]``).
    providers: list[str]

    @abc.abstractmethod
    def run(self, batch: TokenizedBatch) -> dict[str, np.ndarray]:
        """Run one batch; return ``{output name: (batch, n) float32 array}``.

        Implementations must be safe to call from several threads at once.
        """

    def close(self) -> None:  # noqa: B027 - optional hook, most backends hold nothing to release
        """Release the resources the backend holds."""

    @property
    def device(self) -> str:
        """Where the model runs: ``"cuda"``, ``"rocm"`` or ``"cpu"``."""
        first = self.providers[0] if self.providers else "CPUExecutionProvider"
        return {
            "CUDAExecutionProvider": "cuda",
            "TensorrtExecutionProvider": "cuda",
            "ROCMExecutionProvider": "rocm",
            "MIGraphXExecutionProvider": "rocm",
        }.get(first, "cpu")

    def __enter__(self) -> Backend:
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.close()
