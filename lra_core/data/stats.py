"""Summary statistics of a built dataset (``lra data info``): sizes, lengths, labels, token means."""

from __future__ import annotations

from typing import Any

import numpy as np

from .arrays import ListColumn

PERCENTILES = (0, 10, 50, 90, 99, 100)
#: Token means are computed only up to this many tokens per split (cheap, memory-mapped sums).
MEAN_TOKEN_LIMIT = 300_000_000


def split_stats(split: Any, pair: bool, max_length: int | None = None) -> dict[str, Any]:
    """Size, length percentiles (per input column), truncation count, label balance, mean token value."""
    names = ["inputs1", "inputs2"] if pair else ["inputs"]
    table = split.data
    out: dict[str, Any] = {"examples": len(split)}
    for name in names:
        col = ListColumn(table.column(name), name)
        lengths = col.length
        entry: dict[str, Any] = {
            "percentiles": {f"p{p}": int(np.percentile(lengths, p)) if len(lengths) else 0 for p in PERCENTILES},
            "mean": float(lengths.mean()) if len(lengths) else 0.0,
        }
        if max_length is not None:
            entry["truncated"] = int((lengths > max_length).sum())
        total = col.num_values()
        if 0 < total <= MEAN_TOKEN_LIMIT:
            entry["mean_token"] = col.sum_values() / total
        out[name] = entry
    labels = np.asarray(table.column("label").to_numpy())
    counts = np.bincount(labels.astype(np.int64), minlength=int(labels.max()) + 1 if len(labels) else 0)
    out["labels"] = {int(k): int(v) for k, v in enumerate(counts)}
    return out
