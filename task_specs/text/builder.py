"""IMDB at byte level: the Hugging Face hub (``hf``) or local files (``local``).

Local layouts, looked for in ``--path`` (default: ``<data_dir>/raw/text``):

- a saved Hugging Face dataset (``DatasetDict.save_to_disk``) with ``train`` and ``test`` splits;
- ``train.{parquet,jsonl,csv}`` and ``test.{...}`` with columns ``text`` and ``label``;
- the original ``aclImdb`` folder (``train/pos``, ``train/neg``, ``test/pos``, ``test/neg``), or its parent.

Validation is the IMDB test set, as LRA did; ``options["holdout"] = F`` holds out a seeded fraction
``F`` of train as validation instead.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from lra_core import BuildRequest
from lra_core.data import decode_bytes, encode_bytes, make_dataset, source_path, subset_indices
from lra_core.data.readers import find_table_files, is_saved_hf, load_hub, load_saved_hf, read_table
from lra_core.errors import UserError
from lra_core.io import write_text_atomic

HUB_NAME = "stanfordnlp/imdb"
LABELS = {"neg": 0, "pos": 1, "negative": 0, "positive": 1}
EXPECTED = "a saved HF dataset, train/test .parquet/.jsonl/.csv files with text,label, or the aclImdb folder"

Raw = dict[str, tuple[list[Any], np.ndarray]]  # split -> (texts, labels)


def _labels(values: Sequence[Any], where: str) -> np.ndarray:
    out = np.empty(len(values), np.int64)
    for i, v in enumerate(values):
        if isinstance(v, str) and v.strip().lower() in LABELS:
            out[i] = LABELS[v.strip().lower()]
            continue
        try:
            out[i] = int(v)
        except (TypeError, ValueError):
            raise UserError(f"{where}: row {i + 1}: label {v!r} is not 0/1 (or neg/pos)") from None
        if out[i] not in (0, 1):
            raise UserError(f"{where}: row {i + 1}: label {out[i]} is not 0 or 1")
    return out


def _from_datasets(splits: dict[str, Any], where: str) -> Raw:
    out: Raw = {}
    for s, ds in splits.items():
        missing = [c for c in ("text", "label") if c not in ds.column_names]
        if missing:
            raise UserError(f"{where}: split {s!r} lacks column(s) {missing}; found {ds.column_names}")
        out[s] = (ds["text"][:], _labels(ds["label"][:], f"{where} [{s}]"))
    return out


def _aclimdb_root(path: Path) -> Path | None:
    for cand in (path, path / "aclImdb"):
        if all((cand / s / c).is_dir() for s in ("train", "test") for c in ("pos", "neg")):
            return cand
    return None


def _read_aclimdb(root: Path) -> Raw:
    from tqdm.auto import tqdm

    def key(p: Path) -> tuple[int, str]:
        m = re.match(r"(\d+)_", p.name)
        return (int(m.group(1)) if m else 0, p.name)

    out: Raw = {}
    for s in ("train", "test"):
        texts: list[bytes] = []
        labels: list[int] = []
        for cls, y in (("neg", 0), ("pos", 1)):
            files = sorted((root / s / cls).glob("*.txt"), key=key)
            for f in tqdm(files, desc=f"IMDB: reading {s}/{cls}", unit="file", leave=False):
                texts.append(f.read_bytes())
                labels.append(y)
        if not texts:
            raise UserError(f"{root / s}: no review files (*.txt) in pos/ and neg/")
        out[s] = (texts, np.asarray(labels, np.int64))
    return out


def read_local(request: BuildRequest) -> Raw:
    where = source_path(
        request,
        EXPECTED,
        exists=lambda p: is_saved_hf(p) or find_table_files(p, ("train", "test")) is not None or _aclimdb_root(p) is not None,
    )
    if is_saved_hf(where):
        return _from_datasets(load_saved_hf(where, ("train", "test")), str(where))
    files = find_table_files(where, ("train", "test"))
    if files is not None:
        out: Raw = {}
        for s, f in files.items():
            cols = read_table(f, ("text", "label"))
            out[s] = (cols["text"], _labels(cols["label"], str(f)))
        return out
    root = _aclimdb_root(where)
    assert root is not None
    return _read_aclimdb(root)


def read_hf(request: BuildRequest) -> Raw:
    dsd = load_hub(HUB_NAME)
    return _from_datasets({s: dsd[s] for s in ("train", "test")}, HUB_NAME)


def _holdout(request: BuildRequest) -> float | None:
    unknown = set(request.options) - {"holdout"}
    if unknown:
        raise UserError(f"--option: task text has no option(s) {sorted(unknown)}; known: holdout")
    h = request.options.get("holdout")
    if h is None:
        return None
    h = float(h)
    if not 0.0 < h < 1.0:
        raise UserError(f"--option holdout={h}: must be a fraction between 0 and 1")
    return h


def build(request: BuildRequest) -> Any:
    import datasets

    holdout = _holdout(request)
    if request.source == "hf":
        raw = read_hf(request)
    elif request.source == "local":
        raw = read_local(request)
    else:
        raise UserError(f"--source: task text has no source {request.source!r}")
    n = len(raw["train"][0])
    if holdout is None:
        # LRA: validation is the test set (the same rows as test, also when a preset takes a subset).
        parts = {"train": (np.arange(n), "train", raw["train"]), "validation": (None, "test", raw["test"]),
                 "test": (None, "test", raw["test"])}
    else:
        rng = np.random.default_rng([request.seed, 0x484F4C44])  # "HOLD"
        perm = rng.permutation(n)
        n_val = max(1, int(round(n * holdout)))
        parts = {"train": (np.sort(perm[n_val:]), "train", raw["train"]),
                 "validation": (np.sort(perm[:n_val]), "validation", raw["train"]),
                 "test": (None, "test", raw["test"])}
    out = {}
    for split, (rows, salt, (texts, labels)) in parts.items():
        rows = np.arange(len(texts)) if rows is None else rows
        pick = rows[subset_indices(len(rows), int(request.task.splits[split]), request.seed, salt)]
        values, offsets = encode_bytes(texts[i] for i in pick)
        out[split] = make_dataset({"inputs": (values, offsets), "label": labels[pick]})
    return datasets.DatasetDict(out)


def render(example: dict[str, Any], path: Path | None = None) -> str:
    text = f"label: {example['label']}\n{decode_bytes(np.asarray(example['inputs']))}\n"
    if path is not None:
        write_text_atomic(path, text)
    return text
