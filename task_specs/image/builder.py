"""CIFAR-10 as grayscale pixel sequences: the Hugging Face hub (``hf``) or local files (``local``).

Local layouts, looked for in ``--path`` (default ``<data_dir>/raw/image``):

- the CIFAR-10 python version: ``data_batch_1`` ... ``data_batch_5`` and ``test_batch`` pickles (the
  folder itself or its ``cifar-10-batches-py`` subfolder);
- a saved Hugging Face dataset with ``train``/``test`` splits, an ``img`` (or ``image``) column of
  32x32 RGB images and ``label``.

Splits as LRA: train = the first 90% of the training set, validation = the last 10%, test = test.
"""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import numpy as np

from lra_core import BuildRequest
from lra_core.data import make_dataset, source_path, subset_indices
from lra_core.data.readers import is_saved_hf, load_hub, load_saved_hf
from lra_core.errors import UserError

from .grayscale import rgb_to_grayscale

HUB_NAME = "uoft-cs/cifar10"
TRAIN_BATCHES = [f"data_batch_{i}" for i in range(1, 6)]
TEST_BATCH = "test_batch"
EXPECTED = "CIFAR-10 python batches (data_batch_1..5, test_batch) or a saved HF dataset with img,label"
SIDE = 32

Raw = dict[str, tuple[np.ndarray, np.ndarray]]  # split -> (uint8 [N, 32, 32, 3], labels [N])


def _pickle_dir(path: Path) -> Path | None:
    for cand in (path, path / "cifar-10-batches-py"):
        if all((cand / f).is_file() for f in [*TRAIN_BATCHES, TEST_BATCH]):
            return cand
    return None


def _read_batch(path: Path) -> tuple[np.ndarray, np.ndarray]:
    try:
        with open(path, "rb") as f:
            d = pickle.load(f, encoding="bytes")
        data = np.asarray(d[b"data"], dtype=np.uint8)
        labels = np.asarray(d[b"labels"], dtype=np.int64)
    except (pickle.UnpicklingError, EOFError, KeyError, TypeError, ValueError) as e:
        raise UserError(f"{path}: not a CIFAR-10 python batch ({type(e).__name__}: {e}); truncated download?") from None
    if data.ndim != 2 or data.shape[1] != 3 * SIDE * SIDE or len(labels) != len(data):
        raise UserError(f"{path}: expected data [N, 3072] and N labels, got {data.shape} and {len(labels)}")
    # Rows hold the R, G and B planes one after the other, each 32x32 row major.
    return data.reshape(-1, 3, SIDE, SIDE).transpose(0, 2, 3, 1), labels


def _from_images(images: list[Any], labels: list[Any], where: str) -> tuple[np.ndarray, np.ndarray]:
    arrs = []
    for i, im in enumerate(images):
        a = np.asarray(im.convert("RGB") if hasattr(im, "convert") else im, dtype=np.uint8)
        if a.shape != (SIDE, SIDE, 3):
            raise UserError(f"{where}: row {i + 1}: image shape {a.shape}, expected (32, 32, 3)")
        arrs.append(a)
    return np.stack(arrs) if arrs else np.zeros((0, SIDE, SIDE, 3), np.uint8), np.asarray(labels, np.int64)


def _from_datasets(splits: dict[str, Any], where: str) -> Raw:
    out: Raw = {}
    for s, ds in splits.items():
        col = "img" if "img" in ds.column_names else "image" if "image" in ds.column_names else None
        if col is None or "label" not in ds.column_names:
            raise UserError(f"{where}: split {s!r} needs columns img (or image) and label; found {ds.column_names}")
        out[s] = _from_images(ds[col][:], ds["label"][:], f"{where} [{s}]")
    return out


def read_local(request: BuildRequest) -> Raw:
    where = source_path(request, EXPECTED, exists=lambda p: is_saved_hf(p) or _pickle_dir(p) is not None)
    if is_saved_hf(where):
        return _from_datasets(load_saved_hf(where, ("train", "test")), str(where))
    folder = _pickle_dir(where)
    assert folder is not None
    parts = [_read_batch(folder / f) for f in TRAIN_BATCHES]
    train = (np.concatenate([p[0] for p in parts]), np.concatenate([p[1] for p in parts]))
    return {"train": train, "test": _read_batch(folder / TEST_BATCH)}


def read_hf(request: BuildRequest) -> Raw:
    dsd = load_hub(HUB_NAME)
    return _from_datasets({s: dsd[s] for s in ("train", "test")}, HUB_NAME)


def lra_splits(train_len: int) -> tuple[slice, slice]:
    """TFDS ``train[:90%]`` and ``train[90%:]``."""
    cut = int(round(train_len * 0.9))
    return slice(0, cut), slice(cut, train_len)


def build(request: BuildRequest) -> Any:
    import datasets

    if request.options:
        raise UserError(f"--option: task image has no options (got {sorted(request.options)})")
    if request.source == "hf":
        raw = read_hf(request)
    elif request.source == "local":
        raw = read_local(request)
    else:
        raise UserError(f"--source: task image has no source {request.source!r}")
    (tr_img, tr_lab), (te_img, te_lab) = raw["train"], raw["test"]
    bad = [y for y in (tr_lab, te_lab) if len(y) and (y.min() < 0 or y.max() > 9)]
    if bad:
        raise UserError(f"task image: labels must be 0-9, found {int(bad[0].min())}..{int(bad[0].max())}")
    tr, va = lra_splits(len(tr_lab))
    parts = {"train": (tr_img[tr], tr_lab[tr]), "validation": (tr_img[va], tr_lab[va]), "test": (te_img, te_lab)}
    out = {}
    for split, (imgs, labels) in parts.items():
        pick = subset_indices(len(labels), int(request.task.splits[split]), request.seed, split)
        gray = rgb_to_grayscale(imgs[pick]).reshape(len(pick), SIDE * SIDE)
        offsets = np.arange(len(pick) + 1, dtype=np.int64) * SIDE * SIDE
        out[split] = make_dataset({"inputs": (gray.reshape(-1), offsets), "label": labels[pick]})
    return datasets.DatasetDict(out)


SHADES = " .:-=+*#%@"


def render(example: dict[str, Any], path: Path | None = None) -> str:
    """A PNG at ``path`` (returns its path); without a path, a coarse text view of the image."""
    pixels = np.asarray(example["inputs"], dtype=np.uint8)
    side = int(round(len(pixels) ** 0.5))
    if side * side != len(pixels):
        raise UserError(f"image example has {len(pixels)} pixels, not a square")
    img = pixels.reshape(side, side)
    if path is not None:
        from PIL import Image

        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.ascontiguousarray(img)).save(path)  # 2-D uint8 -> mode L
        return str(path)
    rows = ["".join(SHADES[int(v) * len(SHADES) // 256] * 2 for v in r) for r in img]
    return f"label: {example['label']}\n" + "\n".join(rows) + "\n(use --out FILE.png for the image)\n"
