"""AAN retrieval from the release TSVs ``new_aan_pairs.{train,eval,test}.tsv`` (``official``).

Looked for in ``--path`` (default ``<data_dir>/raw/retrieval``) or its ``tsv_data/`` subfolder (the
release tarball's layout). Rows: ``label, id1, id2, text1, text2``, tab separated, no header, no
quoting; the label is parsed as a float and cast to int, as LRA. Each text is cut to its first 10,000
bytes and then to ``max_length`` ids. Rows are streamed into an Arrow file, never all held in memory.
"""

from __future__ import annotations

import uuid
from pathlib import Path
from typing import Any

import numpy as np

from lra_core import BuildRequest
from lra_core.data import decode_bytes, encode_bytes, scratch_dir, source_path, subset_indices
from lra_core.data.arrays import list_column
from lra_core.data.readers import count_rows, tsv_rows
from lra_core.errors import UserError
from lra_core.io import write_text_atomic

FILES = {"train": "new_aan_pairs.train.tsv", "validation": "new_aan_pairs.eval.tsv", "test": "new_aan_pairs.test.tsv"}
MAX_BYTES = 10_000  # LRA cuts each text to its first 10,000 bytes before encoding
ROWS_PER_BATCH = 4096


def release_dir(request: BuildRequest) -> Path:
    def has_files(p: Path) -> bool:
        return any(all((d / f).is_file() for f in FILES.values()) for d in (p, p / "tsv_data"))

    where = source_path(request, ", ".join(FILES.values()), exists=has_files)
    return where if all((where / f).is_file() for f in FILES.values()) else where / "tsv_data"


def _label(raw: bytes, path: Path, row: int) -> int:
    try:
        value = int(float(raw))
    except ValueError:
        raise UserError(f"{path}: row {row}: label {raw[:20]!r} is not a number") from None
    if value not in (0, 1):
        raise UserError(f"{path}: row {row}: label {value} is not 0 or 1")
    return value


def read_split(path: Path, wanted: int, seed: int, salt: str, max_length: int) -> Any:
    """One split as a memory-mapped ``datasets.Dataset`` (columns inputs1, inputs2, label, id1, id2)."""
    import datasets
    import pyarrow as pa
    from tqdm.auto import tqdm

    total = count_rows(path)
    keep = np.zeros(total, bool)
    keep[subset_indices(total, wanted, seed, salt)] = True
    cut = min(MAX_BYTES, max_length)
    out_path = scratch_dir() / f"retrieval-{salt}-{uuid.uuid4().hex[:8]}.arrow"
    writer = None
    buf: dict[str, list[Any]] = {"label": [], "id1": [], "id2": [], "text1": [], "text2": []}

    def flush() -> None:
        nonlocal writer
        if not buf["label"]:
            return
        cols = {}
        for name in ("text1", "text2"):
            values, offsets = encode_bytes(buf[name], cut)
            cols["inputs" + name[-1]] = list_column(values, offsets).combine_chunks()
        cols["label"] = pa.array(np.asarray(buf["label"], np.int64))
        cols["id1"] = pa.array(buf["id1"], pa.string())
        cols["id2"] = pa.array(buf["id2"], pa.string())
        batch = pa.record_batch(cols)
        if writer is None:
            writer = pa.ipc.new_stream(str(out_path), batch.schema)
        writer.write_batch(batch)
        for v in buf.values():
            v.clear()

    i = 0
    with tqdm(total=int(keep.sum()), desc=f"AAN: reading {path.name}", unit="pair", leave=False) as bar:
        for row, fields in tsv_rows(path, 5):
            if keep[i]:
                buf["label"].append(_label(fields[0], path, row))
                buf["id1"].append(fields[1].decode("utf-8", "replace"))
                buf["id2"].append(fields[2].decode("utf-8", "replace"))
                buf["text1"].append(fields[3])
                buf["text2"].append(fields[4])
                bar.update(1)
                if len(buf["label"]) >= ROWS_PER_BATCH:
                    flush()
            i += 1
    flush()
    if writer is None:
        raise UserError(f"{path}: no rows")
    writer.close()
    return datasets.Dataset.from_file(str(out_path), in_memory=False)


def build(request: BuildRequest) -> Any:
    import datasets

    if request.source != "official":
        raise UserError(f"--source: task retrieval has no source {request.source!r}")
    if request.options:
        raise UserError(f"--option: task retrieval has no options (got {sorted(request.options)})")
    where = release_dir(request)
    return datasets.DatasetDict(
        {
            s: read_split(where / f, int(request.task.splits[s]), request.seed, s, request.task.max_length)
            for s, f in FILES.items()
        }
    )


def render(example: dict[str, Any], path: Path | None = None) -> str:
    ids = (example.get("id1", "?"), example.get("id2", "?"))
    text = (
        f"label: {example['label']} (1 = paper 1 cites paper 2)\n"
        f"--- paper 1 ({ids[0]}) ---\n{decode_bytes(np.asarray(example['inputs1']))}\n"
        f"--- paper 2 ({ids[1]}) ---\n{decode_bytes(np.asarray(example['inputs2']))}\n"
    )
    if path is not None:
        write_text_atomic(path, text)
    return text
