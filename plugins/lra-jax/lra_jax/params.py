"""Flax parameter trees <-> canonical names (the PyTorch reference's ``state_dict`` names/layouts).

The rule, applied to every flattened Flax path:
- a path segment ``name_<n>`` (a list element in ``setup``) becomes ``name.<n>``
  (so torch modules never use ``_<digits>`` at the end of a non-list attribute name);
- leaf ``kernel`` (2-D, Dense) becomes ``weight`` transposed to torch's ``[out, in]``;
- leaf ``scale`` (LayerNorm) and ``embedding`` (Embed) become ``weight``;
- any other leaf keeps its name and layout.
"""

from __future__ import annotations

import re
from typing import Any, Mapping

import numpy as np
from flax import traverse_util

_LIST_ITEM = re.compile(r"^(.*)_(\d+)$")


def _canonical(path: tuple[str, ...], value: np.ndarray) -> tuple[str, np.ndarray]:
    segs = [_LIST_ITEM.sub(r"\1.\2", s) for s in path[:-1]]
    leaf = path[-1]
    if leaf == "kernel" and value.ndim == 2:
        return ".".join([*segs, "weight"]), value.T
    if leaf in ("scale", "embedding"):
        return ".".join([*segs, "weight"]), value
    return ".".join([*segs, leaf]), value


def to_canonical(params: Mapping[str, Any], prefix: str = "") -> dict[str, np.ndarray]:
    """Flatten a Flax ``params`` tree to ``{prefix + canonical name: np.ndarray}``."""
    out: dict[str, np.ndarray] = {}
    for path, value in traverse_util.flatten_dict(dict(params)).items():
        name, arr = _canonical(tuple(str(p) for p in path), np.asarray(value))
        out[prefix + name] = np.array(arr, copy=True)
    return out


def from_canonical(
    canonical: Mapping[str, np.ndarray], template: Mapping[str, Any], prefix: str = ""
) -> dict[str, Any]:
    """Build a Flax ``params`` tree shaped like ``template`` from canonical arrays.

    Raises ``KeyError``/``ValueError`` naming the parameter when one is missing, extra or misshapen.
    """
    flat_t = traverse_util.flatten_dict(dict(template))
    result: dict[tuple[str, ...], Any] = {}
    used: set[str] = set()
    for path, tvalue in flat_t.items():
        tarr = np.asarray(tvalue)
        name, canon_shape_arr = _canonical(tuple(str(p) for p in path), tarr)
        key = prefix + name
        if key not in canonical:
            raise KeyError(f"import_params: missing parameter {key!r}")
        arr = np.asarray(canonical[key])
        if arr.shape != canon_shape_arr.shape:
            raise ValueError(f"import_params: {key!r} has shape {arr.shape}, expected {canon_shape_arr.shape}")
        if path[-1] == "kernel" and tarr.ndim == 2:
            arr = arr.T
        result[path] = np.asarray(arr, dtype=tarr.dtype)
        used.add(key)
    extra = sorted(k for k in canonical if k.startswith(prefix) and k not in used)
    if extra:
        raise KeyError(f"import_params: unexpected parameter(s) {extra[:5]}")
    return traverse_util.unflatten_dict(result)
