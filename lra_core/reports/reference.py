"""The LRA paper's published numbers (Tay et al., 2021), and how our names map onto them.

The task specs carry their Table 1 column in ``reference`` (model name -> accuracy %, ``None`` =
FAIL); :func:`paper_table1` prefers those. The copy here covers tasks that are not installed.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

#: Task columns in the paper's order; Path-X is excluded from the paper's average.
LRA_TASKS: tuple[str, ...] = ("listops", "text", "retrieval", "image", "pathfinder", "pathx")
PAPER_AVERAGE_TASKS: tuple[str, ...] = LRA_TASKS[:5]
TASK_TITLES = {
    "listops": "ListOps",
    "text": "Text",
    "retrieval": "Retrieval",
    "image": "Image",
    "pathfinder": "Pathfinder",
    "pathx": "Path-X",
}

#: Normalised task ids (see :func:`norm`) -> LRA column.
TASK_ALIASES: dict[str, str] = {
    "listops": "listops",
    "text": "text",
    "imdb": "text",
    "retrieval": "retrieval",
    "aan": "retrieval",
    "matching": "retrieval",
    "image": "image",
    "cifar10": "image",
    "pathfinder": "pathfinder",
    "pathfinder32": "pathfinder",
    "pathfinder32hard": "pathfinder",
    "pathx": "pathx",
    "pathfinderx": "pathx",
    "pathfinder128": "pathx",
    "pathfinder128hard": "pathx",
}

#: Paper model label -> our normalised names for it.
MODEL_ALIASES: dict[str, tuple[str, ...]] = {
    "Transformer": ("transformer", "vanilla", "vanillatransformer"),
    "Local Attention": ("local", "localattention", "localtransformer"),
    "Sparse Trans.": ("sparse", "sparsetransformer", "sparsetrans"),
    "Longformer": ("longformer",),
    "Linformer": ("linformer",),
    "Reformer": ("reformer",),
    "Sinkhorn Trans.": ("sinkhorn", "sinkhorntransformer", "sinkhorntrans"),
    "Synthesizer": ("synthesizer",),
    "BigBird": ("bigbird",),
    "Linear Trans.": ("linear", "lineartransformer", "lineartrans", "linearattention"),
    "Performer": ("performer",),
}

_NAN = None  # FAIL
#: Table 1 (test accuracy %), Path-X FAIL for every model.
PAPER_TABLE1: dict[str, dict[str, float | None]] = {
    "Transformer": {"listops": 36.37, "text": 64.27, "retrieval": 57.46, "image": 42.44, "pathfinder": 71.40, "pathx": _NAN},
    "Local Attention": {"listops": 15.82, "text": 52.98, "retrieval": 53.39, "image": 41.46, "pathfinder": 66.63, "pathx": _NAN},
    "Sparse Trans.": {"listops": 17.07, "text": 63.58, "retrieval": 59.59, "image": 44.24, "pathfinder": 71.71, "pathx": _NAN},
    "Longformer": {"listops": 35.63, "text": 62.85, "retrieval": 56.89, "image": 42.22, "pathfinder": 69.71, "pathx": _NAN},
    "Linformer": {"listops": 35.70, "text": 53.94, "retrieval": 52.27, "image": 38.56, "pathfinder": 76.34, "pathx": _NAN},
    "Reformer": {"listops": 37.27, "text": 56.10, "retrieval": 53.40, "image": 38.07, "pathfinder": 68.50, "pathx": _NAN},
    "Sinkhorn Trans.": {"listops": 33.67, "text": 61.20, "retrieval": 53.83, "image": 41.23, "pathfinder": 67.45, "pathx": _NAN},
    "Synthesizer": {"listops": 36.99, "text": 61.68, "retrieval": 54.67, "image": 41.61, "pathfinder": 69.45, "pathx": _NAN},
    "BigBird": {"listops": 36.05, "text": 64.02, "retrieval": 59.29, "image": 40.83, "pathfinder": 74.87, "pathx": _NAN},
    "Linear Trans.": {"listops": 16.13, "text": 65.90, "retrieval": 53.09, "image": 42.34, "pathfinder": 75.30, "pathx": _NAN},
    "Performer": {"listops": 18.01, "text": 65.40, "retrieval": 53.82, "image": 42.77, "pathfinder": 77.05, "pathx": _NAN},
}

#: Table 2 (byte-level text, batch 32, 4x4 TPU v3): steps/s and peak memory (GB) at 1K-4K.
PAPER_TABLE2: dict[str, dict[str, dict[int, float]]] = {
    "Transformer": {"steps": {1024: 8.1, 2048: 4.9, 3072: 2.3, 4096: 1.4}, "memory_gb": {1024: 0.85, 2048: 2.65, 3072: 5.51, 4096: 9.48}},
    "Local Attention": {"steps": {1024: 9.2, 2048: 8.4, 3072: 7.4, 4096: 7.4}, "memory_gb": {1024: 0.42, 2048: 0.76, 3072: 1.06, 4096: 1.37}},
    "Linformer": {"steps": {1024: 9.3, 2048: 9.1, 3072: 8.5, 4096: 7.7}, "memory_gb": {1024: 0.37, 2048: 0.55, 3072: 0.99, 4096: 0.99}},
    "Reformer": {"steps": {1024: 4.4, 2048: 2.2, 3072: 1.5, 4096: 1.1}, "memory_gb": {1024: 0.48, 2048: 0.99, 3072: 1.53, 4096: 2.28}},
    "Sinkhorn Trans.": {"steps": {1024: 9.1, 2048: 7.9, 3072: 6.6, 4096: 5.3}, "memory_gb": {1024: 0.47, 2048: 0.83, 3072: 1.13, 4096: 1.48}},
    "Synthesizer": {"steps": {1024: 8.7, 2048: 5.7, 3072: 6.6, 4096: 1.9}, "memory_gb": {1024: 0.65, 2048: 1.98, 3072: 4.09, 4096: 6.99}},
    "BigBird": {"steps": {1024: 7.4, 2048: 3.9, 3072: 2.7, 4096: 1.5}, "memory_gb": {1024: 0.77, 2048: 1.49, 3072: 2.18, 4096: 2.88}},
    "Linear Trans.": {"steps": {1024: 9.1, 2048: 9.3, 3072: 8.6, 4096: 7.8}, "memory_gb": {1024: 0.37, 2048: 0.57, 3072: 0.80, 4096: 1.03}},
    "Performer": {"steps": {1024: 9.5, 2048: 9.4, 3072: 8.7, 4096: 8.0}, "memory_gb": {1024: 0.37, 2048: 0.59, 3072: 0.82, 4096: 1.06}},
}


def norm(name: str) -> str:
    """Lowercase alphanumerics only: ``Linear_Transformer`` -> ``lineartransformer``."""
    return re.sub(r"[^a-z0-9]", "", name.lower())


def task_column(task_id: str) -> str | None:
    """The LRA column a task id belongs to, or None for a task outside LRA."""
    return TASK_ALIASES.get(norm(task_id))


def paper_label(model_name: str) -> str | None:
    """The paper's row label for one of our model names (``linear_transformer`` -> ``Linear Trans.``)."""
    key = norm(model_name.split("/")[-1])
    for label, aliases in MODEL_ALIASES.items():
        if key == norm(label) or key in aliases:
            return label
    return None


def paper_table1(registry: Any | None = None) -> dict[str, dict[str, float | None]]:
    """Table 1 by paper label and LRA column; a registered task spec's ``reference`` wins."""
    table = {label: dict(row) for label, row in PAPER_TABLE1.items()}
    if registry is None:
        return table
    for task in getattr(registry, "tasks", {}).values():
        column = task_column(task.id)
        if column is None:
            continue
        for name, value in task.spec.reference.items():
            label = paper_label(name) or name
            table.setdefault(label, {})[column] = value
    return table


def paper_row(model_name: str, table: Mapping[str, Mapping[str, float | None]]) -> tuple[str, Mapping[str, float | None]] | None:
    label = paper_label(model_name)
    if label is not None and label in table:
        return label, table[label]
    return None
