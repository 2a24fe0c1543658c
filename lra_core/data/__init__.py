"""The data layer: build, cache and batch task data (framework-agnostic, NumPy + Arrow).

- :func:`load_dataset` returns a task's ``datasets.DatasetDict`` (train/validation/test), built on
  demand for generated sources and cached as Arrow under :func:`data_dir`;
- :class:`Batcher` turns one split into fixed-shape :class:`lra_core.Batch` es (explicit masks, CLS,
  seeded per-epoch shuffling, exact resume, full evaluation coverage);
- helpers for builders: flat (values, offsets) columns, byte encoding, deterministic subsets, the
  standard missing-data error and the scratch folder.
"""

from .arrays import (
    ListColumn,
    decode_bytes,
    encode_bytes,
    make_dataset,
    offsets_from_lengths,
    subset_indices,
    take_rows,
)
from .batcher import Batcher
from .cache import (
    build_info,
    cache_key,
    cache_path,
    data_dir,
    is_cached,
    load_dataset,
    make_request,
    missing_files,
    prepare_command,
    raw_dir,
    scratch_dir,
    source_path,
)

__all__ = [
    "Batcher",
    "ListColumn",
    "build_info",
    "cache_key",
    "cache_path",
    "data_dir",
    "decode_bytes",
    "encode_bytes",
    "is_cached",
    "load_dataset",
    "make_dataset",
    "make_request",
    "missing_files",
    "offsets_from_lengths",
    "prepare_command",
    "raw_dir",
    "scratch_dir",
    "source_path",
    "subset_indices",
    "take_rows",
]
