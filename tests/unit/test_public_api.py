"""The public surface is pinned: adding or removing a name is a deliberate change."""

import subprocess
import sys

import sirp


def test_all_is_pinned() -> None:
    assert sorted(sirp.__all__) == sorted(
        [
            "AllAttemptsFailedError",
            "BackendError",
            "ConfigError",
            "InputError",
            "MissingDependencyError",
            "ModelLoadError",
            "NoEligibleModelError",
            "PromptTypeError",
            "ProviderUnavailableError",
            "RouterConfig",
            "RoutingDecision",
            "SemanticRouter",
            "SirpError",
            "TrainingError",
            "UpstreamError",
            "__version__",
        ]
    )
    for name in sirp.__all__:
        assert getattr(sirp, name) is not None


def test_unknown_attribute_raises() -> None:
    import pytest

    with pytest.raises(AttributeError, match="no attribute 'Nope'"):
        sirp.Nope  # noqa: B018


def test_import_is_light() -> None:
    code = (
        "import sys, sirp; sirp.RouterConfig; sirp.RoutingDecision; "
        "print(' '.join(m for m in ('torch','onnxruntime','transformers','optimum','fastapi') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout.strip()
    assert out == ""


def test_errors_mix_in_builtins() -> None:
    assert issubclass(sirp.ConfigError, ValueError)
    assert issubclass(sirp.InputError, ValueError)
    assert issubclass(sirp.PromptTypeError, TypeError)
    assert issubclass(sirp.MissingDependencyError, ImportError)
    assert issubclass(sirp.ProviderUnavailableError, sirp.BackendError)
    for name in ("ConfigError", "InputError", "ModelLoadError", "BackendError", "TrainingError"):
        assert issubclass(getattr(sirp, name), sirp.SirpError)


def test_require_names_the_extra() -> None:
    import pytest

    from sirp._imports import require

    with pytest.raises(sirp.MissingDependencyError, match=r'pip install "sirp\[train\]"'):
        require("surely_not_a_module_xyz", extra="train", purpose="Testing")
