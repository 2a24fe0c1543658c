"""Synthetic batches for profiling: the task's shape with random tokens and a full mask.

Speed and memory of a train step depend on shapes, not on token values, so the profiler needs no
data on disk. The batch is what the core batcher would hand the backend: a CLS id prepended when the
task pools by CLS, every position real (a full mask, so no model saves work on padding).
"""

from __future__ import annotations

import numpy as np

from ..batch import Batch
from ..specs import ResolvedTask


def synthetic_batch(task: ResolvedTask, batch_size: int, seed: int = 0) -> Batch:
    """Tokens uniform over the vocabulary minus pad/CLS; labels uniform over the classes."""
    rng = np.random.default_rng(seed)
    reserved = {task.pad_id} | ({task.cls_id} if task.cls_id is not None else set())
    ids = np.array([i for i in range(task.vocab_size) if i not in reserved], dtype=np.int32)
    if ids.size == 0:
        raise ValueError(f"task {task.task!r}: no token ids left besides pad/CLS")
    shape = (batch_size, 2) if task.input == "pair" else (batch_size,)
    tokens = ids[rng.integers(0, ids.size, size=(*shape, task.max_length))]
    if task.pooling == "cls":
        cls = np.full((*shape, 1), task.cls_id, dtype=np.int32)
        tokens = np.concatenate([cls, tokens], axis=-1)
    tokens = np.ascontiguousarray(tokens, dtype=np.int32)
    assert tokens.shape[-1] == task.model_length
    mask = np.ones(tokens.shape, dtype=np.bool_)
    labels = rng.integers(0, task.num_classes, size=batch_size).astype(np.int32)
    return Batch(tokens=tokens, mask=mask, labels=labels)
