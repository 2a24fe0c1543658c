"""Batches for backends: fixed-length NumPy arrays gathered straight from the Arrow columns.

- tokens int32 / mask bool ``[B, L]`` (pair tasks ``[B, 2, L]``) with ``L = task.model_length``;
  labels int32 ``[B]``;
- the mask comes from each row's real length, never from token values: a token 0 inside a sequence
  (a black pixel) is data and stays True;
- with CLS pooling the reserved ``cls_id`` is prepended and its mask is True;
- rows longer than ``task.max_length`` are truncated to their first ``max_length`` tokens
  (:attr:`Batcher.num_truncated` says how many);
- training order: epoch ``e`` is a permutation drawn from ``numpy.random.default_rng([seed, e])``;
  the last partial batch of an epoch is dropped; step ``s`` is always the same batch, so resuming at
  ``start_step`` continues exactly where an uninterrupted run would be;
- evaluation: fixed order, every example once, the last batch smaller.
"""

from __future__ import annotations

import logging
from typing import Any, Iterator

import numpy as np

from ..batch import Batch
from ..errors import UserError
from ..specs import ResolvedTask
from .arrays import ListColumn

log = logging.getLogger("lra.data")


class Batcher:
    """Fixed-shape batches of one split for one resolved task."""

    def __init__(self, split: Any, task: ResolvedTask, batch_size: int) -> None:
        if batch_size < 1:
            raise UserError(f"batch_size must be >= 1, got {batch_size}")
        if getattr(split, "_indices", None) is not None:  # a select()/shuffle() view
            split = split.flatten_indices()
        self.task = task
        self.batch_size = int(batch_size)
        self.pair = task.input == "pair"
        names = ["inputs1", "inputs2"] if self.pair else ["inputs"]
        missing = [c for c in [*names, "label"] if c not in split.column_names]
        if missing:
            raise UserError(f"task {task.task!r}: dataset lacks column(s) {missing}; has {split.column_names}")
        table = split.data
        self.columns = [ListColumn(table.column(n), n) for n in names]
        self.labels = np.asarray(table.column("label").to_numpy(), dtype=np.int32)
        self.num_examples: int = len(self.labels)
        self.cls = task.pooling == "cls"
        if self.cls and task.cls_id is None:
            raise UserError(f"task {task.task!r}: pooling is 'cls' but the spec has no cls_id")
        self.max_length = task.max_length
        self.length = task.model_length
        self.num_truncated = int(sum(int((c.length > self.max_length).sum()) for c in self.columns))
        if self.num_truncated:
            log.info("task %s: %d sequence(s) longer than max_length %d are truncated",
                     task.task, self.num_truncated, self.max_length)
        bad = (self.labels < 0) | (self.labels >= task.num_classes)
        if bad.any():
            i = int(np.flatnonzero(bad)[0])
            raise UserError(
                f"task {task.task!r}: label {int(self.labels[i])} of example {i} is outside [0, {task.num_classes})"
            )

    # ---- one batch ------------------------------------------------------------------------------
    def batch(self, indices: np.ndarray) -> Batch:
        """The batch of examples ``indices`` (in that order)."""
        idx = np.asarray(indices, dtype=np.int64)
        b = len(idx)
        n_in = len(self.columns)
        tokens = np.zeros((b, n_in, self.length), np.int32)
        mask = np.zeros((b, n_in, self.length), np.bool_)
        off = 1 if self.cls else 0
        for j, col in enumerate(self.columns):
            col.gather(idx, self.max_length, tokens[:, j, off:], mask[:, j, off:])
        if self.cls:
            tokens[:, :, 0] = self.task.cls_id
            mask[:, :, 0] = True
        if not self.pair:
            tokens, mask = tokens[:, 0], mask[:, 0]
        return Batch(tokens=tokens, mask=mask, labels=self.labels[idx])

    # ---- iterators ------------------------------------------------------------------------------
    @property
    def batches_per_epoch(self) -> int:
        """Full training batches per epoch (the last partial batch is dropped)."""
        return self.num_examples // self.batch_size

    def epoch_order(self, seed: int, epoch: int) -> np.ndarray:
        """The permutation of epoch ``epoch`` (depends only on ``seed`` and ``epoch``)."""
        return np.random.default_rng([int(seed), int(epoch)]).permutation(self.num_examples)

    def train_batches(self, seed: int, start_step: int = 0) -> Iterator[Batch]:
        """Endless shuffled training batches; the first one yielded is step ``start_step``."""
        nb = self.batches_per_epoch
        if nb == 0:
            raise UserError(
                f"task {self.task.task!r}: the training split has {self.num_examples} example(s), fewer than "
                f"batch_size {self.batch_size}; lower training.batch_size or use larger splits"
            )
        if start_step < 0:
            raise ValueError("start_step must be >= 0")
        return self._train(seed, nb, start_step)

    def _train(self, seed: int, nb: int, step: int) -> Iterator[Batch]:
        epoch, order = -1, np.zeros(0, np.int64)
        bs = self.batch_size
        while True:
            e, i = divmod(step, nb)
            if e != epoch:  # only the current epoch's order is ever drawn: skipping costs nothing
                epoch, order = e, self.epoch_order(seed, e)
            yield self.batch(order[i * bs : (i + 1) * bs])
            step += 1

    def num_eval_batches(self, max_batches: int | None = None) -> int:
        n = -(-self.num_examples // self.batch_size)
        return n if max_batches is None else min(n, max_batches)

    def eval_batches(self, max_batches: int | None = None) -> Iterator[Batch]:
        """Batches in dataset order covering every example once (the last one may be smaller)."""
        bs = self.batch_size
        for k in range(self.num_eval_batches(max_batches)):
            lo = k * bs
            yield self.batch(np.arange(lo, min(lo + bs, self.num_examples)))

    def lengths(self) -> np.ndarray:
        """Real lengths before truncation (``[N]``, pair tasks ``[N, 2]``)."""
        if self.pair:
            return np.stack([c.length for c in self.columns], axis=1)
        return self.columns[0].length.copy()
