"""ListOps data: the seeded generator (``generated``) or the release TSVs (``official``)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from lra_core import BuildRequest, load_task_spec
from lra_core.data import ListColumn, make_dataset, source_path, subset_indices, take_rows
from lra_core.errors import UserError
from lra_core.io import write_text_atomic

from . import official
from .generator import VOCABULARY, GeneratorParams, Trees, generate

HERE = Path(__file__).resolve().parent
SPLITS = ("train", "validation", "test")

if load_task_spec(HERE / "spec.toml").vocabulary != VOCABULARY:  # one source of truth, checked
    raise RuntimeError("task_specs/listops/spec.toml vocabulary differs from generator.VOCABULARY")


def generator_params(request: BuildRequest) -> GeneratorParams:
    """LRA's flags; below max_length 2000 (smoke) the length window shrinks to fit, same algorithm.

    ``request.options`` may set ``min_length``, ``max_length``, ``max_depth`` and ``max_args``.
    """
    L = request.task.max_length
    base = GeneratorParams() if L >= 2000 else GeneratorParams(min_length=L // 4, max_length=L)
    known = {"min_length", "max_length", "max_depth", "max_args", "workers"}
    unknown = set(request.options) - known
    if unknown:
        raise UserError(f"--option: ListOps has no option(s) {sorted(unknown)}; known: {sorted(known)}")
    fields = {k: int(request.options[k]) for k in ("min_length", "max_length", "max_depth", "max_args") if k in request.options}
    try:
        return GeneratorParams(**{**base.__dict__, **fields})
    except ValueError as e:
        raise UserError(f"--option: ListOps generator: {e}") from None


def _dataset(trees: Trees) -> Any:
    return make_dataset({"inputs": (trees.tokens, trees.offsets), "label": trees.labels.astype(np.int64)})


def build(request: BuildRequest) -> Any:
    import datasets

    sizes = request.task.splits
    if request.source == "generated":
        params = generator_params(request)
        total = sum(int(sizes[s]) for s in SPLITS)
        workers = request.options.get("workers")
        trees = generate(total, request.seed, params, workers=int(workers) if workers else None)
        out, lo = {}, 0
        for s in SPLITS:
            hi = lo + int(sizes[s])
            idx = np.arange(lo, hi, dtype=np.int64)
            vals, offs = take_rows(trees.tokens, trees.offsets, idx)
            out[s] = _dataset(Trees(vals, offs, trees.labels[lo:hi], trees.depths[lo:hi]))
            lo = hi
        return datasets.DatasetDict(out)
    if request.source == "official":
        files = official.SPLIT_FILES
        where = source_path(
            request,
            ", ".join(files.values()),
            exists=lambda p: all((p / f).is_file() for f in files.values()),
        )
        out = {}
        for s in SPLITS:
            trees = official.read_split(where / files[s])
            idx = subset_indices(len(trees), int(sizes[s]), request.seed, s)
            vals, offs = take_rows(trees.tokens, trees.offsets, idx)
            out[s] = _dataset(Trees(vals, offs, trees.labels[idx], trees.depths[idx]))
        return datasets.DatasetDict(out)
    raise UserError(f"--source: ListOps has no source {request.source!r}")


def export(dsdict: Any, directory: Path) -> None:
    """Write the splits as ``basic_{train,val,test}.tsv`` in the official layout."""
    from tqdm.auto import tqdm

    by_split = {}
    for s in SPLITS:
        col = ListColumn(dsdict[s].data.column("inputs"))
        seqs = [col.row(i) for i in tqdm(range(len(col)), desc=f"ListOps: export {s}", unit="ex", leave=False)]
        by_split[s] = (seqs, dsdict[s]["label"][:])
    official.export(by_split, Path(directory))


def render(example: dict[str, Any], path: Path | None = None) -> str:
    """The expression as tokens and in the official parenthesised form, with its value."""
    ids = np.asarray(example["inputs"])
    tokens = " ".join(VOCABULARY[i] for i in ids)
    try:
        source = official.to_source(ids)
    except ValueError:
        source = "(not a complete expression)"
    text = f"tokens ({len(ids)}): {tokens}\nsource: {source}\nlabel: {example['label']}\n"
    if path is not None:
        write_text_atomic(path, text)
    return text
