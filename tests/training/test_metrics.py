"""NumPy metrics: accuracy and mean cross-entropy from logits."""

import math

import numpy as np
import pytest

from lra_core.training.metrics import EvalAccumulator, accuracy, cross_entropy


def test_accuracy_and_loss_by_hand():
    logits = np.array([[2.0, 1.0, 0.0], [0.0, 0.0, 5.0], [1.0, 3.0, 0.0]], dtype=np.float32)
    labels = np.array([0, 1, 1], dtype=np.int32)
    assert accuracy(logits, labels) == pytest.approx(2 / 3)
    def ce(row, y):
        return math.log(sum(math.exp(v) for v in row)) - row[y]
    expected = sum(ce(list(map(float, r)), int(y)) for r, y in zip(logits, labels)) / 3
    assert cross_entropy(logits, labels) == pytest.approx(expected, rel=1e-12)


def test_cross_entropy_is_stable_for_large_logits():
    logits = np.array([[1000.0, 0.0], [0.0, 1000.0]])
    assert cross_entropy(logits, np.array([0, 0])) == pytest.approx(500.0)


def test_accumulator_weights_by_examples():
    rng = np.random.default_rng(0)
    logits = rng.normal(size=(37, 4))
    labels = rng.integers(0, 4, size=37)
    acc = EvalAccumulator()
    for lo, hi in [(0, 16), (16, 32), (32, 37)]:
        acc.update(logits[lo:hi], labels[lo:hi])
    r = acc.compute()
    assert r.examples == 37
    assert r.accuracy == pytest.approx(accuracy(logits, labels))
    assert r.loss == pytest.approx(cross_entropy(logits, labels))
    with pytest.raises(ValueError):
        EvalAccumulator().compute()
    with pytest.raises(ValueError):
        accuracy(logits[:3], labels[:4])
