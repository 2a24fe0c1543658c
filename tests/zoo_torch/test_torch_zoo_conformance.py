"""Every registered torch model passes the conformance suite (the fast checks by default, all when slow).

Parametrised over the registry, so models added to ``lra_torch.models`` are covered without editing
this file. Skipped as a whole when the suite (``lra_conformance``) or the torch plugin is unavailable.
"""

from __future__ import annotations

import pytest

lra_conformance = pytest.importorskip("lra_conformance")

from lra_core import get_registry  # noqa: E402


def _torch_models() -> list[str]:
    try:
        registry = get_registry()
    except Exception:  # a broken registry is reported by the core's own tests
        return []
    return sorted(mid for mid, card in registry.models.items() if card.framework == "torch")


TORCH_MODELS = _torch_models()


def _assert_conforms(model: str, fast_only: bool) -> None:
    report = lra_conformance.run_checks(model, fast_only=fast_only)
    failures = [f"{r.check}: {r.message}" for r in report.results if r.failed]
    assert report.ok, f"{model} fails conformance:\n" + "\n".join(failures)


@pytest.mark.skipif(not TORCH_MODELS, reason="no torch models registered (lra-torch plugin not loadable)")
@pytest.mark.parametrize("model", TORCH_MODELS)
def test_torch_model_passes_fast_checks(model: str) -> None:
    _assert_conforms(model, fast_only=True)


@pytest.mark.slow
@pytest.mark.skipif(not TORCH_MODELS, reason="no torch models registered (lra-torch plugin not loadable)")
@pytest.mark.parametrize("model", TORCH_MODELS)
def test_torch_model_passes_all_checks(model: str) -> None:
    _assert_conforms(model, fast_only=False)
