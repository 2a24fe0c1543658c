"""LRA's learning-rate schedule: a product of named factors, computed in NumPy.

``schedule`` is LRA's ``factors`` string, e.g. ``constant*linear_warmup*rsqrt_decay`` (text-like
tasks) or ``constant*linear_warmup*cosine_decay`` (image tasks). The factors (LRA
``train_utils.create_learning_rate_scheduler``):

- ``constant``: the base learning rate;
- ``linear_warmup``: ``min(1, step / warmup)``;
- ``rsqrt_decay``: ``1 / sqrt(max(step, warmup))``;
- ``cosine_decay``: ``max(0, 0.5 * (1 + cos(pi * (progress % 1))))``,
  ``progress = max(0, (step - warmup) / steps_per_cycle)``.

``step`` is the optimizer's update counter *before* the update, starting at 0, as in LRA (whose
train step reads ``optimizer.state.step``): the first update runs at ``lr(0) == 0`` when there is a
warmup. So ListOps (0.05, warmup 1000) peaks at ``0.05 / sqrt(1000)`` at step 1000.
"""

from __future__ import annotations

import numpy as np

from ..specs import TrainingSettings


class LearningRateSchedule:
    """``schedule(step) -> float`` for one run's :class:`TrainingSettings`."""

    def __init__(self, settings: TrainingSettings) -> None:
        self.factors = [f.strip() for f in settings.schedule.split("*")]
        self.base = float(settings.learning_rate)
        self.warmup = int(settings.warmup_steps)
        # LRA sets steps_per_cycle to the whole run for the image tasks; None means that here.
        self.steps_per_cycle = int(settings.steps_per_cycle or settings.num_train_steps)

    def values(self, steps: np.ndarray) -> np.ndarray:
        """Learning rates at an array of steps (float64)."""
        step = np.asarray(steps, dtype=np.float64)
        lr = np.ones_like(step)
        for name in self.factors:
            if name == "constant":
                lr = lr * self.base
            elif name == "linear_warmup":
                # warmup 0 means no warmup (LRA would divide by zero).
                lr = lr * (np.minimum(1.0, step / self.warmup) if self.warmup > 0 else 1.0)
            elif name == "rsqrt_decay":
                # max(.., 1) keeps step 0 finite when there is no warmup.
                lr = lr / np.sqrt(np.maximum(np.maximum(step, self.warmup), 1.0))
            elif name == "cosine_decay":
                progress = np.maximum(0.0, (step - self.warmup) / self.steps_per_cycle)
                lr = lr * np.maximum(0.0, 0.5 * (1.0 + np.cos(np.pi * (progress % 1.0))))
            else:  # TrainingSettings validates the factor names; this guards direct construction.
                raise ValueError(f"unknown learning-rate factor {name!r}")
        return lr

    def __call__(self, step: int) -> float:
        return float(self.values(np.asarray([step]))[0])


def learning_rate(settings: TrainingSettings, step: int) -> float:
    """The learning rate of update ``step`` (0-based) under ``settings``."""
    return LearningRateSchedule(settings)(step)
