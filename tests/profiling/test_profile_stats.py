"""Profiling building blocks: statistics, FLOPs/MFU, synthetic batches, protocol validation."""

from __future__ import annotations

import numpy as np
import pytest
from pydantic import ValidationError

from lra_core.cli.profile_cmd import parse_lengths
from lra_core.errors import UserError
from lra_core.profiling.flops import analytic_step_flops, device_peak_flops, mfu
from lra_core.profiling.protocol import ProfileProtocol
from lra_core.profiling.stats import summarize
from lra_core.profiling.synthetic import synthetic_batch
from lra_core.specs import parse_task_spec


def test_median_iqr_on_known_samples():
    s = summarize([5.0, 1.0, 3.0, 2.0, 4.0])
    assert (s.median, s.q1, s.q3, s.iqr) == (3.0, 2.0, 4.0, 2.0)
    assert s.min == 1.0 and s.max == 5.0 and s.mean == 3.0 and s.n == 5
    assert s.relative_iqr == pytest.approx(2 / 3)
    assert s.noisy and s.grossly_noisy
    assert s.steps_per_second == pytest.approx(1 / 3)
    assert "IQR/median = 67%" in s.warning()


def test_noise_flag_follows_threshold():
    quiet = summarize([0.100, 0.101, 0.102, 0.103, 0.104])  # IQR/median ~2%
    assert not quiet.noisy and quiet.warning() is None
    # q1=0.1, q3=0.115, median 0.1 -> 15%: noisy, not gross.
    mid = summarize([0.1, 0.1, 0.1, 0.115, 0.115])
    assert mid.relative_iqr == pytest.approx(0.15)
    assert mid.noisy and not mid.grossly_noisy
    assert not summarize([0.1, 0.1, 0.1, 0.115, 0.115], noise_threshold=0.2).noisy


def test_constant_timings_and_bad_input():
    s = summarize([0.25] * 4)
    assert s.iqr == 0 and not s.noisy and s.steps_per_second == 4.0
    with pytest.raises(ValueError):
        summarize([])
    with pytest.raises(ValueError):
        summarize([0.1, float("nan")])


def test_device_peaks_and_mfu():
    assert device_peak_flops({"name": "NVIDIA H200"}, "bf16") == pytest.approx(989.4e12)
    assert device_peak_flops({"name": "NVIDIA H100 PCIe"}, "bf16") == pytest.approx(756e12)
    assert device_peak_flops({"name": "NVIDIA H100 80GB HBM3"}, "fp32") == pytest.approx(66.9e12)
    assert device_peak_flops({"name": "NVIDIA A100-SXM4-80GB"}, "fp32") == pytest.approx(19.5e12)
    assert device_peak_flops({"name": "Intel(R) Xeon(R)"}, "fp32") is None
    assert device_peak_flops({}, "fp32") is None
    assert analytic_step_flops(2e9) == 6e9
    assert mfu(6e9, 10.0, 1.2e11) == pytest.approx(0.5)
    assert mfu(None, 10.0, 1e12) is None and mfu(1e9, 10.0, None) is None


def _spec(input_kind: str, pooling: str = "cls"):
    enc = {"d_model": 8, "num_heads": 2, "num_layers": 1, "mlp_dim": 16, "qkv_dim": 8}
    return parse_task_spec({
        "id": "t", "version": 1, "title": "t", "input": input_kind, "num_classes": 3, "pooling": pooling,
        "vocab_size": 6, "pad_id": 0, "cls_id": 5, "max_length": 50, "sources": ["g"], "default_source": "g",
        "splits": {"train": 1, "validation": 1, "test": 1},
        "presets": {"smoke": {"max_length": 40, "encoder": enc, "training": {}}},
    }).resolved("smoke")


def test_synthetic_batch_single_cls():
    b = synthetic_batch(_spec("single"), 4, seed=1)
    assert b.tokens.shape == (4, 41) and b.tokens.dtype == np.int32
    assert (b.tokens[:, 0] == 5).all()
    body = b.tokens[:, 1:]
    assert body.min() >= 1 and body.max() <= 4  # never pad (0) or CLS (5) inside
    assert b.mask.all() and b.labels.shape == (4,) and b.labels.max() < 3
    again = synthetic_batch(_spec("single"), 4, seed=1)
    assert np.array_equal(b.tokens, again.tokens)


def test_synthetic_batch_pair_mean_pooling():
    b = synthetic_batch(_spec("pair", pooling="mean"), 3)
    assert b.tokens.shape == (3, 2, 40) and b.mask.shape == (3, 2, 40) and b.is_pair


def test_protocol_validation_and_lengths():
    p = ProfileProtocol()
    assert p.lengths == [1024, 2048, 3072, 4096] and p.batch_size == 32 and p.task == "text"
    with pytest.raises(ValidationError):
        ProfileProtocol(lengths=[0])
    with pytest.raises(ValidationError):
        ProfileProtocol(lengths=[128, 128])
    assert parse_lengths("1024, 2K,4k") == [1024, 2048, 4096]
    with pytest.raises(UserError, match="--lengths"):
        parse_lengths("1024,abc")
