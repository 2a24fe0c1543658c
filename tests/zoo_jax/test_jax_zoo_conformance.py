"""Every registered JAX model passes the conformance suite (fast checks, and all checks).

Parametrised over the registry, so models added to ``lra_jax.models`` are covered without editing
this file. JAX compiles every new shape, so the fast checks take about 10 s per model on a CPU (run by
default, as for torch) and all checks are marked slow. Skipped as a whole when the suite
(``lra_conformance``) or the jax plugin is unavailable.
"""

from __future__ import annotations

import pytest

lra_conformance = pytest.importorskip("lra_conformance")

from lra_core import get_registry  # noqa: E402


def _jax_models() -> list[str]:
    try:
        registry = get_registry()
    except Exception:  # a broken registry is reported by the core's own tests
        return []
    return sorted(mid for mid, card in registry.models.items() if card.framework == "jax")


JAX_MODELS = _jax_models()


def _assert_conforms(model: str, fast_only: bool) -> None:
    report = lra_conformance.run_checks(model, fast_only=fast_only)
    failures = [f"{r.check}: {r.message}" for r in report.results if r.failed]
    assert report.ok, f"{model} fails conformance:\n" + "\n".join(failures)


@pytest.mark.skipif(not JAX_MODELS, reason="no jax models registered (lra-jax plugin not loadable)")
@pytest.mark.parametrize("model", JAX_MODELS)
def test_jax_model_passes_fast_checks(model: str) -> None:
    _assert_conforms(model, fast_only=True)


@pytest.mark.slow
@pytest.mark.skipif(not JAX_MODELS, reason="no jax models registered (lra-jax plugin not loadable)")
@pytest.mark.parametrize("model", JAX_MODELS)
def test_jax_model_passes_all_checks(model: str) -> None:
    _assert_conforms(model, fast_only=False)
