"""The unit of data the core hands to a backend."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class Batch:
    """NumPy arrays. Single tasks: tokens/mask ``[B, L]``; pair tasks: ``[B, 2, L]``.

    ``mask`` is True at real tokens (and at a prepended CLS), computed from real lengths, never from
    token values. ``labels`` is int32 ``[B]``.
    """

    tokens: np.ndarray
    mask: np.ndarray
    labels: np.ndarray

    def __post_init__(self) -> None:
        if self.tokens.dtype != np.int32:
            raise TypeError(f"Batch.tokens must be int32, got {self.tokens.dtype}")
        if self.mask.dtype != np.bool_:
            raise TypeError(f"Batch.mask must be bool, got {self.mask.dtype}")
        if self.labels.dtype != np.int32:
            raise TypeError(f"Batch.labels must be int32, got {self.labels.dtype}")
        if self.tokens.shape != self.mask.shape:
            raise ValueError(f"Batch: tokens {self.tokens.shape} and mask {self.mask.shape} differ")
        if self.tokens.shape[0] != self.labels.shape[0]:
            raise ValueError("Batch: tokens and labels disagree on the batch size")

    @property
    def size(self) -> int:
        return int(self.tokens.shape[0])

    @property
    def is_pair(self) -> bool:
        return self.tokens.ndim == 3
