"""NumPy <-> Arrow for token sequences: build list columns from flat arrays, read them back fast.

Builders keep sequences as one flat ``values`` array plus ``offsets`` (row ``i`` is
``values[offsets[i]:offsets[i+1]]``); :func:`make_dataset` turns that into a ``datasets.Dataset``
without a Python loop. :class:`ListColumn` is the reverse, zero-copy over memory-mapped Arrow chunks,
and what the batcher gathers from.
"""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np

#: Rows per Arrow chunk when building (keeps int32 offsets safe and chunks memory-mappable).
CHUNK_ROWS = 8192


def offsets_from_lengths(lengths: np.ndarray) -> np.ndarray:
    offsets = np.zeros(len(lengths) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    return offsets


def list_column(values: np.ndarray, offsets: np.ndarray) -> Any:
    """A ``pyarrow.ChunkedArray`` of ``list<values.dtype>`` rows."""
    import pyarrow as pa

    offsets = np.asarray(offsets, np.int64)
    n = len(offsets) - 1
    chunks = []
    for lo in range(0, max(n, 1), CHUNK_ROWS):
        hi = min(n, lo + CHUNK_ROWS)
        a, b = int(offsets[lo]), int(offsets[hi])
        rel = (offsets[lo : hi + 1] - a).astype(np.int32)
        chunks.append(pa.ListArray.from_arrays(pa.array(rel), pa.array(values[a:b])))
    return pa.chunked_array(chunks)


def make_dataset(columns: Mapping[str, Any]) -> Any:
    """``datasets.Dataset`` from ``{name: (values, offsets)}`` list columns and ``{name: array}`` scalars."""
    import datasets
    import pyarrow as pa

    arrays = {}
    for name, col in columns.items():
        if isinstance(col, tuple):
            arrays[name] = list_column(*col)
        else:
            arrays[name] = pa.array(np.asarray(col))
    return datasets.Dataset(pa.table(arrays))


def encode_bytes(texts: Iterable[bytes | str], max_bytes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    """Byte-level ids as TFDS ``ByteTextEncoder``: id = byte + 1 (pad 0), optionally cut to ``max_bytes``."""
    blobs = []
    for t in texts:
        b = t.encode("utf-8") if isinstance(t, str) else bytes(t)
        blobs.append(b[:max_bytes] if max_bytes is not None else b)
    lengths = np.fromiter((len(b) for b in blobs), np.int64, count=len(blobs))
    values = np.frombuffer(b"".join(blobs), np.uint8).astype(np.uint16) + 1
    return values, offsets_from_lengths(lengths)


def decode_bytes(ids: np.ndarray) -> str:
    """Inverse of :func:`encode_bytes` for display (pad and out-of-range ids dropped)."""
    ids = np.asarray(ids)
    ids = ids[(ids >= 1) & (ids <= 256)]
    return (ids - 1).astype(np.uint8).tobytes().decode("utf-8", errors="replace")


def subset_indices(total: int, wanted: int | None, seed: int, salt: str) -> np.ndarray:
    """Indices of a deterministic subset of ``wanted`` rows out of ``total`` (all rows when fewer).

    Rows keep their original order; ``salt`` (e.g. the split name) gives each split its own draw.
    """
    if wanted is None or wanted >= total:
        return np.arange(total, dtype=np.int64)
    salt_int = int.from_bytes(salt.encode()[:8].ljust(8, b"\0"), "little")
    rng = np.random.default_rng([seed, salt_int])
    return np.sort(rng.choice(total, size=wanted, replace=False))


def take_rows(values: np.ndarray, offsets: np.ndarray, idx: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Rows ``idx`` of a flat (values, offsets) column, as a new flat column."""
    lengths = (offsets[1:] - offsets[:-1])[idx]
    new_offsets = offsets_from_lengths(lengths)
    flat = np.repeat(offsets[idx] - new_offsets[:-1], lengths) + np.arange(int(new_offsets[-1]))
    return values[flat], new_offsets


class ListColumn:
    """A ``list<int>`` Arrow column read as NumPy: per-chunk flat values plus per-row start/length.

    Values stay zero-copy views of the (usually memory-mapped) Arrow buffers unless the column is
    small enough to gather from one contiguous array, which is faster.
    """

    #: Columns with at most this many values are combined into one chunk (a copy) for speed.
    COMBINE_BELOW = 256 * 1024 * 1024

    def __init__(self, column: Any, name: str = "inputs") -> None:
        import pyarrow as pa

        if isinstance(column, pa.Array):
            column = pa.chunked_array([column])
        total = sum(_n_values(c) for c in column.chunks)
        if column.num_chunks > 1 and total <= self.COMBINE_BELOW:
            column = pa.chunked_array([_combine(column)])
        self.values: list[np.ndarray] = []
        chunk_ids, starts, lengths = [], [], []
        for ci, chunk in enumerate(column.chunks):
            t = chunk.type
            if pa.types.is_fixed_size_list(t):
                size = t.list_size
                offs = (np.arange(len(chunk) + 1, dtype=np.int64) + chunk.offset) * size
            elif pa.types.is_list(t) or pa.types.is_large_list(t):
                offs = chunk.offsets.to_numpy().astype(np.int64)
            else:
                raise TypeError(f"column {name!r}: expected a list of integers, got Arrow type {t}")
            vt = t.value_type
            if not pa.types.is_integer(vt):
                raise TypeError(f"column {name!r}: expected integer token ids, got {vt} (nested or float data?)")
            if chunk.null_count:
                raise TypeError(f"column {name!r}: {chunk.null_count} missing (null) rows")
            vals = chunk.values
            self.values.append(vals.to_numpy(zero_copy_only=False) if len(vals) else np.zeros(1, np.int64))
            chunk_ids.append(np.full(len(chunk), ci, np.int32))
            starts.append(offs[:-1])
            lengths.append(offs[1:] - offs[:-1])
        self.chunk = np.concatenate(chunk_ids) if chunk_ids else np.zeros(0, np.int32)
        self.start = np.concatenate(starts) if starts else np.zeros(0, np.int64)
        self.length = np.concatenate(lengths) if lengths else np.zeros(0, np.int64)

    def __len__(self) -> int:
        return len(self.length)

    def gather(self, idx: np.ndarray, width: int, out: np.ndarray, mask: np.ndarray) -> None:
        """Write rows ``idx`` (cut to ``width``) left-aligned into ``out``/``mask`` ``[len(idx), width]``."""
        cols = np.arange(width, dtype=np.int64)
        lengths = np.minimum(self.length[idx], width)
        valid = cols[None, :] < lengths[:, None]
        chunks = self.chunk[idx]
        single = len(self.values) == 1
        for c in (0,) if single else np.unique(chunks):
            rows = slice(None) if single else np.flatnonzero(chunks == c)
            vals = self.values[c]
            pos = self.start[idx][rows][:, None] + cols[None, :]
            np.minimum(pos, len(vals) - 1, out=pos)
            v = valid[rows]
            out[rows] = np.where(v, vals[pos], 0)
            mask[rows] = v

    def row(self, i: int) -> np.ndarray:
        c = self.chunk[i]
        return self.values[c][self.start[i] : self.start[i] + self.length[i]]

    def sum_values(self) -> int:
        """Sum of every token of every row (e.g. for the mean pixel intensity)."""
        return sum(int(v.sum(dtype=np.int64)) for v in self._used())

    def num_values(self) -> int:
        return int(self.length.sum())

    def _used(self) -> list[np.ndarray]:
        # Values referenced by rows (a sliced chunk may carry unreferenced values around it).
        out = []
        for c, vals in enumerate(self.values):
            sel = self.chunk == c
            if not sel.any():
                continue
            lo = int(self.start[sel].min())
            hi = int((self.start[sel] + self.length[sel]).max())
            out.append(vals[lo:hi])
        return out


def _n_values(chunk: Any) -> int:
    import pyarrow as pa

    if pa.types.is_fixed_size_list(chunk.type):
        return len(chunk) * chunk.type.list_size
    if len(chunk) == 0:
        return 0
    offs = chunk.offsets
    return int(offs[len(offs) - 1].as_py()) - int(offs[0].as_py())


def _combine(column: Any) -> Any:
    import pyarrow as pa

    combined = column.combine_chunks()
    if isinstance(combined, pa.ChunkedArray):  # pyarrow may keep chunks for nested types
        combined = pa.concat_arrays(combined.chunks)
    return combined
