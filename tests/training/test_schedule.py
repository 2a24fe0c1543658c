"""The LR schedule against LRA's formulas (reference §5.1)."""

import math

import numpy as np
import pytest

from lra_core.specs import TrainingSettings
from lra_core.training.schedule import LearningRateSchedule, learning_rate


def listops() -> TrainingSettings:
    return TrainingSettings(learning_rate=0.05, warmup_steps=1000, num_train_steps=5000)


def test_listops_peaks_at_warmup_end():
    s = LearningRateSchedule(listops())
    assert s(1000) == pytest.approx(0.05 / math.sqrt(1000), rel=1e-12)
    assert s(1000) == pytest.approx(1.58e-3, rel=1e-2)
    steps = np.arange(0, 5001)
    assert int(np.argmax(s.values(steps))) == 1000


def test_rsqrt_warmup_and_decay_values():
    s = LearningRateSchedule(listops())
    assert s(0) == 0.0  # LRA's first update runs at lr 0 (its step counter starts at 0)
    assert s(250) == pytest.approx(0.05 * 0.25 / math.sqrt(1000))
    assert s(5000) == pytest.approx(0.05 / math.sqrt(5000))
    assert s(5000) == pytest.approx(7.07e-4, rel=1e-3)
    text = TrainingSettings(learning_rate=0.05, warmup_steps=8000, num_train_steps=20000)
    assert learning_rate(text, 8000) == pytest.approx(5.59e-4, rel=1e-3)
    assert learning_rate(text, 20000) == pytest.approx(3.54e-4, rel=2e-3)


def test_cosine_decay_image_config():
    t = TrainingSettings(
        learning_rate=0.0005, warmup_steps=175, num_train_steps=35000, steps_per_cycle=35000,
        schedule="constant*linear_warmup*cosine_decay",
    )
    s = LearningRateSchedule(t)
    assert s(175) == pytest.approx(0.0005)
    assert s(100) == pytest.approx(0.0005 * 100 / 175)
    assert s(175 + 17500) == pytest.approx(0.00025)
    step = 30000
    expected = 0.0005 * 0.5 * (1 + math.cos(math.pi * ((step - 175) / 35000)))
    assert s(step) == pytest.approx(expected)
    # steps_per_cycle None means the whole run
    t2 = t.model_copy(update={"steps_per_cycle": None})
    assert LearningRateSchedule(t2)(step) == pytest.approx(expected)


def test_no_warmup_is_finite_and_values_match_scalar():
    t = TrainingSettings(learning_rate=0.1, warmup_steps=0, num_train_steps=100)
    s = LearningRateSchedule(t)
    assert s(0) == pytest.approx(0.1)
    assert s(4) == pytest.approx(0.1 / 2)
    steps = np.array([0, 3, 17, 99])
    assert np.allclose(s.values(steps), [s(int(k)) for k in steps])
