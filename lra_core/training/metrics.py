"""Classification metrics in NumPy: pure functions plus a thin accumulator over eval batches.

Every framework hands back logits; the numbers in a result record are computed here, so they mean
the same thing for every backend.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


def _check(logits: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.ndim != 1 or logits.shape[0] != labels.shape[0]:
        raise ValueError(f"expected logits [B, C] and labels [B], got {logits.shape} and {labels.shape}")
    return logits.astype(np.float64), labels.astype(np.int64)


def correct_count(logits: np.ndarray, labels: np.ndarray) -> int:
    """Examples whose argmax logit is the label (ties go to the lowest class index)."""
    logits, labels = _check(logits, labels)
    return int(np.sum(np.argmax(logits, axis=-1) == labels))


def cross_entropy_sum(logits: np.ndarray, labels: np.ndarray) -> float:
    """Summed softmax cross-entropy (LRA's loss before dividing by the number of examples)."""
    logits, labels = _check(logits, labels)
    shifted = logits - logits.max(axis=-1, keepdims=True)
    log_z = np.log(np.sum(np.exp(shifted), axis=-1))
    return float(np.sum(log_z - shifted[np.arange(labels.shape[0]), labels]))


def accuracy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Fraction of examples whose argmax logit equals the label."""
    n = np.asarray(labels).shape[0]
    return correct_count(logits, labels) / n if n else float("nan")


def cross_entropy(logits: np.ndarray, labels: np.ndarray) -> float:
    """Mean softmax cross-entropy over examples (no label smoothing), in float64."""
    n = np.asarray(labels).shape[0]
    return cross_entropy_sum(logits, labels) / n if n else float("nan")


@dataclass
class EvalResult:
    accuracy: float
    loss: float
    examples: int

    def as_dict(self) -> dict[str, float | int]:
        return {"accuracy": self.accuracy, "loss": self.loss, "examples": self.examples}


class EvalAccumulator:
    """Sums correct predictions and loss over batches; ``compute()`` gives example-weighted means."""

    def __init__(self) -> None:
        self.reset()

    def reset(self) -> None:
        self.correct = 0
        self.loss_sum = 0.0
        self.examples = 0

    def update(self, logits: np.ndarray, labels: np.ndarray) -> None:
        self.correct += correct_count(logits, labels)
        self.loss_sum += cross_entropy_sum(logits, labels)
        self.examples += int(np.asarray(labels).shape[0])

    def compute(self) -> EvalResult:
        if not self.examples:
            raise ValueError("no examples were evaluated (is the split empty?)")
        return EvalResult(self.correct / self.examples, self.loss_sum / self.examples, self.examples)
