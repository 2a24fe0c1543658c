"""Every registered model, in every framework, passes the conformance suite.

Parametrised over the registry (as timm tests every registered model), so a model added to
``lra_torch.models`` or ``lra_jax.models`` is covered without editing this file. The fast checks run
by default (JAX compiles each shape: about 10 s per model on a CPU); all checks with ``-m slow``.
"""

from __future__ import annotations

import pytest

from lra_conformance import run_checks
from lra_core import get_registry

MODELS = sorted(get_registry().models)


def _assert_conforms(model: str, fast_only: bool) -> None:
    report = run_checks(model, fast_only=fast_only)
    failures = [f"{r.check}: {r.message}" for r in report.results if r.failed]
    assert report.ok, f"{model} fails conformance:\n" + "\n".join(failures)


def test_both_first_party_zoos_are_registered():
    for framework in ("torch", "jax"):
        names = {m.split("/", 1)[1] for m in MODELS if m.startswith(framework + "/")}
        assert {"transformer", "local", "sparse_transformer", "longformer", "linformer", "reformer", "sinkhorn",
                "synthesizer", "bigbird", "linear_transformer", "performer"} <= names, framework


@pytest.mark.parametrize("model", MODELS)
def test_model_passes_fast_checks(model: str) -> None:
    _assert_conforms(model, fast_only=True)


@pytest.mark.slow
@pytest.mark.parametrize("model", MODELS)
def test_model_passes_all_checks(model: str) -> None:
    _assert_conforms(model, fast_only=False)
