"""The ListOps generator: LRA's algorithm (reference §3), vectorised and sharded.

The original (``lra_benchmarks/data/listops.py``) grows one tree at a time by recursion: a node below
the maximum depth is an operator with probability 0.25 (2..max_args children, operator uniform among
MIN/MAX/MED/SM), otherwise a digit 0-9; trees are kept when ``min_length < length < max_length``
(operators + digits + closing brackets) and unique. Here many candidate trees are grown at once, level
by level with NumPy; the node distribution is the same, so the accepted trees follow the same law.
A candidate whose length provably reaches ``max_length`` is dropped as soon as that is known, which is
the same rejection done earlier (draws are independent, so this does not bias what is kept).

Determinism: shard ``i`` draws from ``numpy.random.default_rng([seed, i, ...])`` until it holds a fixed
number of accepted trees; shards are merged in index order and de-duplicated keeping the first copy.
The result depends only on the seed and the parameters, never on the number of worker processes.
"""

from __future__ import annotations

import math
import multiprocessing
import os
from dataclasses import dataclass
from typing import Iterator

import numpy as np

#: Token strings in id order; this exact list is the ``vocabulary`` of spec.toml (pad 0, CLS last).
VOCABULARY: list[str] = [
    "<pad>",
    *[str(d) for d in range(10)],
    "[MIN",
    "[MAX",
    "[MED",
    "[SM",
    "X",
    "<unk>",
    "<cls>",
]
PAD_ID = 0
DIGIT_BASE = 1  # digit d has id d + 1
OP_BASE = 11  # MIN, MAX, MED, SM have ids 11..14
OPERATORS = ("[MIN", "[MAX", "[MED", "[SM")
CLOSE_ID = 15  # "X", the closing bracket "]" after LRA's rename
CLS_ID = 17
TOKEN_IDS = {tok: i for i, tok in enumerate(VOCABULARY)}

#: Below this many examples the shards run in-process (starting a pool costs more than it saves).
IN_PROCESS_BELOW = 5000

VALUE_P = 0.25  # probability that a node below max depth is an operator (original: r <= 0.25)


@dataclass(frozen=True)
class GeneratorParams:
    """The original generator's flags (defaults = LRA's)."""

    max_depth: int = 10
    max_args: int = 10
    min_length: int = 500  # kept when min_length < length < max_length (strict, as the original)
    max_length: int = 2000

    def __post_init__(self) -> None:
        if self.max_depth < 2 or self.max_args < 2:
            raise ValueError("max_depth and max_args must be at least 2")
        if not 0 <= self.min_length < self.max_length - 1:
            raise ValueError(f"need 0 <= min_length < max_length - 1, got {self.min_length}, {self.max_length}")


@dataclass
class Trees:
    """Accepted trees: flat token ids (``int`` ids of :data:`VOCABULARY`), offsets and labels."""

    tokens: np.ndarray  # uint8 [total]
    offsets: np.ndarray  # int64 [n + 1]
    labels: np.ndarray  # int8 [n]
    depths: np.ndarray  # int8 [n], deepest operator nesting (root operator = 1)

    def __len__(self) -> int:
        return len(self.labels)

    def sequence(self, i: int) -> np.ndarray:
        return self.tokens[self.offsets[i] : self.offsets[i + 1]]


def _grow(rng: np.random.Generator, n: int, p: GeneratorParams) -> Trees:
    """Grow ``n`` candidate trees breadth first; return the accepted ones in draw order."""
    hi, lo = p.max_length, p.min_length
    tree = np.arange(n, dtype=np.int64)  # tree id of each node of the current level
    bound = np.zeros(n, dtype=np.int64)  # tokens decided so far + pending children (a lower bound)
    alive = np.ones(n, dtype=bool)
    levels: list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, np.ndarray]] = []
    parent = np.zeros(n, dtype=np.int64)
    for depth in range(1, p.max_depth + 1):
        m = len(tree)
        if m == 0:
            break
        u = rng.random(m)
        if depth < p.max_depth:
            is_op = u <= VALUE_P
        else:
            is_op = np.zeros(m, dtype=bool)
        # Given u <= VALUE_P, u / VALUE_P is uniform: it picks the child count 2..max_args.
        k = np.where(is_op, 2 + np.minimum((u / VALUE_P * (p.max_args - 1)).astype(np.int64), p.max_args - 2), 0)
        # One draw in [0, 40) gives a uniform digit (mod 10) or a uniform operator (mod 4).
        choice = rng.integers(0, 40, m)
        token = np.where(is_op, OP_BASE + choice % 4, DIGIT_BASE + choice % 10).astype(np.uint8)
        levels.append((tree, parent, token, k, is_op))
        # Length bound: leaves count 1, operators 2 (operator + closing bracket) plus 1 for each child
        # not grown yet; a child replaces its placeholder 1 when its level is grown.
        if depth == 1:
            bound += np.where(is_op, 2 + k, 1)
        else:
            bound += np.bincount(tree, weights=np.where(is_op, 1 + k, 0), minlength=n).astype(np.int64)
        alive &= bound < hi
        child_parent = np.repeat(np.arange(m, dtype=np.int64), k)
        keep = alive[tree[child_parent]]
        parent = child_parent[keep]
        tree = tree[parent]
    accepted = alive & (bound > lo) & (bound < hi)
    return _serialise(levels, accepted)


def _serialise(levels: list, accepted: np.ndarray) -> Trees:
    """Turn the level arrays of the accepted trees into prefix-order token sequences and labels."""
    n_acc = int(accepted.sum())
    if n_acc == 0:
        return Trees(np.zeros(0, np.uint8), np.zeros(1, np.int64), np.zeros(0, np.int8), np.zeros(0, np.int8))
    # Keep only the nodes of accepted trees; remap parent indices to the compacted previous level.
    new_tree_id = np.cumsum(accepted) - 1
    kept = []
    prev_map = None
    for tree, parent, token, k, is_op in levels:
        sel = accepted[tree]
        if not sel.any():
            break
        par = prev_map[parent[sel]] if prev_map is not None else np.zeros(int(sel.sum()), np.int64)
        kept.append((new_tree_id[tree[sel]], par, token[sel], k[sel], is_op[sel]))
        prev_map = np.cumsum(sel) - 1
    # Bottom-up: subtree sizes, values and operator depth.
    sizes: list[np.ndarray] = [None] * len(kept)  # type: ignore[list-item]
    values: list[np.ndarray] = [None] * len(kept)  # type: ignore[list-item]
    heights: list[np.ndarray] = [None] * len(kept)  # type: ignore[list-item]
    for d in range(len(kept) - 1, -1, -1):
        tree, parent, token, k, is_op = kept[d]
        m = len(token)
        size = np.where(is_op, 2, 1).astype(np.int64)
        value = np.where(is_op, 0, token.astype(np.int64) - DIGIT_BASE)
        height = is_op.astype(np.int64)
        if d + 1 < len(kept):
            c_parent = kept[d + 1][1]
            size += np.bincount(c_parent, weights=sizes[d + 1], minlength=m).astype(np.int64)
            c_height = np.zeros(m, np.int64)
            np.maximum.at(c_height, c_parent, heights[d + 1])
            height = np.where(is_op, 1 + c_height, 0)
            value = np.where(is_op, _op_values(token, is_op, c_parent, values[d + 1], m), value)
        sizes[d], values[d], heights[d] = size, value, height
    lengths = sizes[0]
    offsets = np.zeros(n_acc + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    out = np.empty(int(offsets[-1]), np.uint8)
    # Top-down: position of each node inside its tree (prefix order).
    pos = np.zeros(n_acc, np.int64)
    for d in range(len(kept)):
        tree, parent, token, k, is_op = kept[d]
        gpos = offsets[tree] + pos
        out[gpos] = token
        out[(gpos + sizes[d] - 1)[is_op]] = CLOSE_ID
        if d + 1 < len(kept):
            c_parent = kept[d + 1][1]
            c_size = sizes[d + 1]
            # Children of one parent are contiguous and in order: offset = 1 + sizes of earlier siblings.
            csum = np.cumsum(c_size) - c_size
            first = np.searchsorted(c_parent, c_parent, side="left")
            pos = pos[c_parent] + 1 + (csum - csum[first])
    labels = values[0].astype(np.int8)
    return Trees(out, offsets, labels, heights[0].astype(np.int8))


def _op_values(token: np.ndarray, is_op: np.ndarray, c_parent: np.ndarray, c_value: np.ndarray, m: int) -> np.ndarray:
    """Value of every operator node from its children's values (children grouped by parent)."""
    result = np.zeros(m, np.int64)
    ops = np.flatnonzero(is_op)
    starts = np.searchsorted(c_parent, ops, side="left")
    counts = np.bincount(c_parent, minlength=m)[ops]
    mins = np.minimum.reduceat(c_value, starts)
    maxs = np.maximum.reduceat(c_value, starts)
    sums = np.add.reduceat(c_value, starts)
    # Median: sort values within each parent group, then pick the middle one(s).
    order = np.lexsort((c_value, c_parent))
    sv = c_value[order]
    lo_mid = sv[starts + (counts - 1) // 2]
    hi_mid = sv[starts + counts // 2]
    med = (lo_mid + hi_mid) // 2  # int(np.median(...)): the mean of the middle two, truncated
    op = token[ops].astype(np.int64) - OP_BASE
    result[ops] = np.select([op == 0, op == 1, op == 2, op == 3], [mins, maxs, med, sums % 10])
    return result


def shard_size(total: int) -> int:
    """Accepted trees per shard: a function of the requested total only (never of the workers)."""
    return int(min(2000, max(64, math.ceil(total / 48))))


def _draws_per_round(p: GeneratorParams) -> int:
    # Big length windows accept ~8% of draws; keep each round's arrays a few MB.
    return 2048 if p.max_length > 256 else 8192


def generate_shard(args: tuple[int, int, int, GeneratorParams]) -> Trees:
    """The first ``count`` accepted trees of shard ``index`` (deterministic in seed, index, params)."""
    seed, index, count, p = args
    rng = np.random.default_rng([seed, index, p.max_depth, p.max_args, p.min_length, p.max_length])
    parts: list[Trees] = []
    have = 0
    while have < count:
        t = _grow(rng, _draws_per_round(p), p)
        parts.append(t)
        have += len(t)
    return _take(_concat(parts), count)


def _concat(parts: list[Trees]) -> Trees:
    offsets = [np.zeros(1, np.int64)]
    base = 0
    for t in parts:
        offsets.append(t.offsets[1:] + base)
        base += int(t.offsets[-1])
    return Trees(
        np.concatenate([t.tokens for t in parts]) if parts else np.zeros(0, np.uint8),
        np.concatenate(offsets),
        np.concatenate([t.labels for t in parts]) if parts else np.zeros(0, np.int8),
        np.concatenate([t.depths for t in parts]) if parts else np.zeros(0, np.int8),
    )


def _take(t: Trees, idx: np.ndarray | int) -> Trees:
    """Trees ``idx`` (an index array, or the first ``idx``)."""
    if isinstance(idx, (int, np.integer)):
        n = int(idx)
        return Trees(t.tokens[: t.offsets[n]].copy(), t.offsets[: n + 1].copy(), t.labels[:n].copy(), t.depths[:n].copy())
    lengths = (t.offsets[1:] - t.offsets[:-1])[idx]
    offsets = np.zeros(len(idx) + 1, np.int64)
    np.cumsum(lengths, out=offsets[1:])
    starts = t.offsets[idx]
    flat = np.repeat(starts - offsets[:-1], lengths) + np.arange(int(offsets[-1]))
    return Trees(t.tokens[flat], offsets, t.labels[idx], t.depths[idx])


def default_workers() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not Linux
        return max(1, os.cpu_count() or 1)


def _shards(seed: int, size: int, p: GeneratorParams, workers: int) -> Iterator[Trees]:
    """Shards 0, 1, 2, ... in order, computed by ``workers`` processes."""
    index = 0
    if workers <= 1:
        while True:
            yield generate_shard((seed, index, size, p))
            index += 1
    # forkserver/spawn: safe with threads in the parent (tqdm's monitor, datasets' pools).
    method = "forkserver" if "forkserver" in multiprocessing.get_all_start_methods() else "spawn"
    ctx = multiprocessing.get_context(method)
    with ctx.Pool(workers) as pool:
        while True:
            batch = [(seed, index + i, size, p) for i in range(workers * 4)]
            index += len(batch)
            yield from pool.imap(generate_shard, batch)


def generate(
    total: int,
    seed: int = 0,
    params: GeneratorParams = GeneratorParams(),
    *,
    workers: int | None = None,
    progress: bool = True,
) -> Trees:
    """``total`` unique accepted trees, in a fixed order determined by ``seed`` and ``params``."""
    from tqdm.auto import tqdm

    if total < 0:
        raise ValueError("total must be >= 0")
    workers = default_workers() if workers is None else max(1, workers)
    size = shard_size(total)
    n_shards = math.ceil(total / size) if total else 0
    # Small sets (smoke) are quicker in-process than starting a pool; the result is the same.
    workers = 1 if total < IN_PROCESS_BELOW else min(workers, max(1, n_shards))
    seen: set[bytes] = set()
    parts: list[Trees] = []
    have = 0
    bar = tqdm(total=total, desc="ListOps: generating", unit="ex", disable=not progress)
    try:
        if total:
            for shard in _shards(seed, size, params, workers):
                keep = []
                for i in range(len(shard)):
                    key = shard.sequence(i).tobytes()
                    if key not in seen:  # unique trees, as the original's set
                        seen.add(key)
                        keep.append(i)
                        if have + len(keep) == total:
                            break
                parts.append(_take(shard, np.asarray(keep, np.int64)))
                have += len(keep)
                bar.update(len(keep))
                if have >= total:
                    break
    finally:
        bar.close()
    return _concat(parts) if parts else _concat([])
