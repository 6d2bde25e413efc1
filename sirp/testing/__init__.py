"""Shared test suites for sirp components (needs pytest: ``pip install "sirp[test]"``).

Modelled on ``langchain_tests``: a backend implementation subclasses
:class:`~sirp.testing.backend.BackendConformanceTests`, provides a ``backend`` and a
``tokenizer`` fixture, and inherits every test that a sirp backend must pass.
"""

from sirp.testing.backend import BackendConformanceTests

__all__ = ["BackendConformanceTests"]
