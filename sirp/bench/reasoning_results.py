"""One benchmark answer per (question, mode), and the JSONL file that makes a run resumable.

Every finished request is appended to the results file as one JSON line, flushed at once, so a
run that is killed loses at most the requests in flight; a restart reads the file and skips
every (question, mode) that already has an answer. Failed requests are kept too (with their
error) but are asked again on a restart; the last line of a key wins. Each line carries the
run's fingerprint (config, split, prompt, sampling parameters, offline replay): resuming into a
file made by another set-up is refused rather than mixed.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator
from dataclasses import asdict, dataclass, fields
from pathlib import Path
from typing import IO, Any

from sirp.errors import ConfigError

__all__ = ["Result", "ResultsLog"]


@dataclass(frozen=True)
class Result:
    """What one (question, mode) request gave."""

    question_id: int
    mode: str
    category: str
    expected: str
    """the correct letter"""
    answer: str | None = None
    """the letter extracted from the reply (``None``: the reply named none)"""
    correct: bool = False
    model: str | None = None
    """the model that answered"""
    tier: str | None = None
    reasoning: bool | None = None
    """whether the request asked the model to reason (the decision after forcing)"""
    effort: str | None = None
    latency_ms: float | None = None
    """sirp's end-to-end latency: routing, the call, the whole stream"""
    ttft_ms: float | None = None
    """time to the first generated token (reasoning or answer); streams only"""
    routing_ms: float | None = None
    """of ``latency_ms``, what the classifier and policy took (the decision's ``latency_ms``)"""
    prompt_tokens: int = 0
    completion_tokens: int = 0
    reasoning_tokens: int = 0
    error: str | None = None
    run: str = ""
    """fingerprint of the run's set-up"""

    @property
    def key(self) -> tuple[int, str]:
        """``(question_id, mode)``."""
        return (self.question_id, self.mode)

    @property
    def ok(self) -> bool:
        """The request got an answer (whether or not it was right)."""
        return self.error is None

    def to_json(self) -> str:
        """One JSON line (without the newline)."""
        return json.dumps(asdict(self), ensure_ascii=False)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Result:
        """Read a line's object; unknown keys are ignored (a newer sirp may add some)."""
        known = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in known})


class ResultsLog:
    """The results of one run: in memory, and appended to ``path`` (JSONL) when one is given."""

    def __init__(self, path: Path | None, run: str) -> None:
        self.path = path
        self.run = run
        self._fh: IO[str] | None = None
        #: the last result of every key, read from the file and added since
        self.results: dict[tuple[int, str], Result] = {}
        #: lines of the file that could not be read (a line cut off by a kill)
        self.skipped_lines = 0

    def _lines(self) -> Iterator[Result]:
        assert self.path is not None
        with self.path.open(encoding="utf-8") as fh:
            for line in fh:
                if not line.strip():
                    continue
                try:
                    data = json.loads(line)
                    result = Result.from_dict(data)
                except (json.JSONDecodeError, TypeError):
                    self.skipped_lines += 1
                    continue
                yield result

    def load(self) -> dict[tuple[int, str], Result]:
        """Read the file (if any); returns the keys that already have an answer.

        Raises:
            ConfigError: the file holds results of another set-up (a different fingerprint).
        """
        if self.path is None or not self.path.exists():
            return {}
        for r in self._lines():
            if r.run != self.run:
                raise ConfigError(
                    f"{self.path} holds results of another benchmark set-up (config, split, prompt, sampling or "
                    "replay differ); pass another --results file, or delete this one to start over"
                )
            # an answer is never replaced by a later failure of the same key
            old = self.results.get(r.key)
            if old is None or not old.ok or r.ok:
                self.results[r.key] = r
        return {k: r for k, r in self.results.items() if r.ok}

    def append(self, result: Result) -> None:
        """Keep ``result`` and write it to the file at once."""
        self.results[result.key] = result
        if self.path is None:
            return
        if self._fh is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            # a killed run may have left half a line: start on a fresh one
            needs_newline = self.path.exists() and self.path.stat().st_size > 0 and not _ends_with_newline(self.path)
            self._fh = self.path.open("a", encoding="utf-8")
            if needs_newline:
                self._fh.write("\n")
        self._fh.write(result.to_json() + "\n")
        self._fh.flush()

    def close(self) -> None:
        """Close the file (results stay readable in :attr:`results`)."""
        if self._fh is not None:
            self._fh.flush()
            os.fsync(self._fh.fileno())
            self._fh.close()
            self._fh = None

    def __enter__(self) -> ResultsLog:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()


def _ends_with_newline(path: Path) -> bool:
    with path.open("rb") as fh:
        fh.seek(-1, os.SEEK_END)
        return fh.read(1) == b"\n"
