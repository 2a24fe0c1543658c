"""A real small profile through the first-party backends (slow: each worker imports its framework)."""

from __future__ import annotations

import importlib.util

import pytest

from lra_core.profiling import ProfileProtocol, run_profile
from lra_core.reports import efficiency_report

pytestmark = pytest.mark.slow


@pytest.mark.parametrize("model, module", [("torch/transformer", "lra_torch.backend"), ("jax/transformer", "lra_jax.backend")])
def test_real_smoke_profile_records_every_field(model, module):
    if importlib.util.find_spec(module.split(".")[0]) is None:
        pytest.skip(f"{module} not installed")
    protocol = ProfileProtocol(lengths=[64], batch_size=2, task="text", preset="smoke", warmup_steps=1, measured_steps=3, repeats=2)
    (rec,) = run_profile([model], protocol, progress=False)
    assert rec.status == "ok", rec.error
    assert rec.model.num_params and rec.model.config and rec.task.spec_hash and rec.task.model_length == 65
    assert rec.timings.stats.n == 6 and rec.timings.steps_per_second > 0 and rec.timings.first_step_seconds > 0
    assert rec.timings.compile_seconds is not None and rec.timings.compile_source
    assert rec.memory.peak_bytes is not None and rec.memory.peak_bytes >= 0 and rec.memory.counter
    assert rec.flops.analytic_step > 0 and rec.flops.counted_step > 0
    assert rec.final_loss is not None and rec.device["kind"] == "cpu" and rec.environment["git"]
    assert f"{rec.timings.steps_per_second:.2f}" in efficiency_report([rec])
