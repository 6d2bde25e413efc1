"""Shared test suites for sirp components (needs pytest: ``pip install "sirp[test]"``).

Modelled on ``langchain_tests``: a backend implementation subclasses
:class:`~sirp.testing.backend.BackendConformanceTests`, provides a ``backend`` and a
``tokenizer`` fixture, and inherits every test that a sirp backend must pass. Beside it:
:mod:`sirp.testing.fake_openai` (an OpenAI-compatible server on loopback),
:mod:`sirp.testing.scripted` (a router whose decisions the test chooses), and
:mod:`sirp.testing.redis_server` (a real Redis for one test session).
"""

from sirp.testing.backend import BackendConformanceTests

__all__ = ["BackendConformanceTests"]
