"""BigBird: block-sparse attention, ITC variant (global + sliding band + random blocks).

The length is padded to a multiple of ``block_size`` (``b``); blocks are contiguous. The pattern is
defined on a fixed grid of ``G = max(ceil(max_length / b), n)`` blocks, ``max_length`` being the
task's (the encoder's positional table length) and ``n = ceil(L / b)`` the blocks actually present:

- the first block (0) and the last grid block (``G - 1``) are *global*: they attend to every key,
  and every query attends to them;
- every other block ``i`` attends to the band ``i-1, i, i+1``, to blocks ``0`` and ``G-1``, and to
  ``num_random_blocks`` (``r``) random blocks drawn among the blocks not already in its row;
- a block of the grid beyond ``n`` does not exist in this input (it is what LRA's pad-to-max-length
  batches filled with padding), so keys there are simply absent.

Defining the pattern on the max-length grid, rather than on the current ``n``, keeps the outputs of
real positions unchanged when more padding is appended (the padding-mask contract): LRA always ran
at the task's maximum length, and there the two definitions coincide.

Random blocks (``random_blocks``), to be replicated exactly by a twin: for layer ``layer``,
``rng = numpy.random.default_rng(layer)`` (LRA seeded each layer with its index); for each head
``h`` in order, for each row ``i = 1 .. G-2`` in order, the candidates are
``[j for j in 1..G-2 if |j - i| > 1]`` in increasing order and the row's blocks are
``rng.permutation(candidates)[:r]`` (fewer when there are fewer candidates; missing slots are -1).
LRA drew per-head patterns the same way from ``numpy.random.seed(layer)`` and only among the first
1024 tokens; the latter quirk is not reproduced.

Computation: each non-global query block gathers its ``5 + r`` key blocks (first, band of 3, last,
``r`` random; slots that duplicate another or do not exist are masked) and attends with one
softmax; the (at most two) global query blocks attend densely. Cost ``O(L * (5 + r + 2) * b)``:
linear in ``L``.

Parameters: ``query``, ``key``, ``value``, ``out`` (as the reference Transformer).
"""

from __future__ import annotations

import math
from functools import lru_cache

import numpy as np
import torch
from pydantic import Field
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .blocks import (
    attend,
    attention_flops,
    dense_layer_flops,
    from_blocks,
    mask_blocks,
    num_blocks,
    project_heads,
    to_blocks,
)
from .common import Encoder, ProjectedAttention, merge_heads


class BigBirdConfig(EncoderConfig):
    block_size: int = Field(64, ge=1, description="tokens per block b")
    num_random_blocks: int = Field(3, ge=0, description="random key blocks r per non-global query block")


@lru_cache(maxsize=64)
def random_blocks(grid: int, num_random: int, num_heads: int, layer: int) -> np.ndarray:
    """``int64 [num_heads, grid, num_random]``: the random key blocks of each row (-1 = none).

    Rows 0 and ``grid-1`` are global and keep -1. See the module docstring for the exact recipe.
    """
    rng = np.random.default_rng(layer)
    table = np.full((num_heads, grid, num_random), -1, dtype=np.int64)
    for h in range(num_heads):
        for i in range(1, grid - 1):
            candidates = np.array([j for j in range(1, grid - 1) if abs(j - i) > 1], dtype=np.int64)
            picked = rng.permutation(candidates)[:num_random]
            table[h, i, : len(picked)] = picked
    table.setflags(write=False)
    return table


def grid_blocks(length: int, max_length: int, block: int) -> int:
    return max(num_blocks(length, block), math.ceil(max_length / block))


def block_pattern(n: int, grid: int, table: np.ndarray) -> tuple[list[int], list[int], np.ndarray, np.ndarray]:
    """Rows of an ``n``-block input: (global rows, other rows, key blocks [H, M, 5+r], valid [H, M, 5+r]).

    Slots per non-global row ``i``: ``[0, i-1, i, i+1, grid-1, random...]``.
    """
    heads, _, r = table.shape
    last = grid - 1
    global_rows = [0] + ([last] if n == grid and last > 0 else [])
    rows = [i for i in range(n) if i not in global_rows]
    idx = np.zeros((heads, len(rows), 5 + r), dtype=np.int64)
    valid = np.zeros((heads, len(rows), 5 + r), dtype=bool)
    for m, i in enumerate(rows):
        fixed = [(0, True), (i - 1, i - 1 >= 1), (i, True), (i + 1, i + 1 < n and i + 1 != last), (last, last < n)]
        for slot, (blk, ok) in enumerate(fixed):
            idx[:, m, slot], valid[:, m, slot] = (blk if ok else 0), ok
        rand = table[:, i, :]  # [H, r]
        ok = (rand >= 0) & (rand < n)
        idx[:, m, 5:], valid[:, m, 5:] = np.where(ok, rand, 0), ok
    return global_rows, rows, idx, valid


class BigBirdAttention(ProjectedAttention):
    def __init__(self, config: BigBirdConfig, layer: int, max_length: int) -> None:
        super().__init__(config)
        self.block_size = config.block_size
        self.num_random = config.num_random_blocks
        self.layer = layer
        self.max_length = max_length

    def pattern(self, length: int) -> tuple[list[int], list[int], np.ndarray, np.ndarray]:
        """The block pattern this layer uses for inputs of ``length`` tokens (see :func:`block_pattern`)."""
        grid = grid_blocks(length, self.max_length, self.block_size)
        table = random_blocks(grid, self.num_random, self.num_heads, self.layer)
        return block_pattern(num_blocks(length, self.block_size), grid, table)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length, device = x.shape[1], x.device
        block = self.block_size
        q, k, v = (to_blocks(t, block) for t in project_heads(self, x))  # [B, H, n, b, Dh]
        b, h, n, _, dh = q.shape
        keys_ok = mask_blocks(mask, block)  # [B, n, b]
        global_rows, rows, idx_np, valid_np = self.pattern(length)
        # Global rows are block 0 and, when present, the last block; the others are contiguous.
        last_global = len(global_rows) == 2

        # Global query blocks: dense attention over all keys.
        gq = torch.cat([q[:, :, :1], q[:, :, -1:]], dim=2) if last_global else q[:, :, :1]
        flat_k, flat_v = k.reshape(b, h, 1, n * block, dh), v.reshape(b, h, 1, n * block, dh)
        all_ok = keys_ok.reshape(b, 1, 1, 1, n * block)
        y_global = attend(gq, flat_k, flat_v, all_ok, self.attention_dropout, self.training)
        pieces = [y_global[:, :, :1]]

        if rows:
            idx = torch.from_numpy(idx_np).to(device)  # [H, M, S]
            m, slots = idx.shape[1], idx.shape[2]
            heads = torch.arange(h, device=device)[:, None, None]
            kg = k[:, heads, idx].reshape(b, h, m, slots * block, dh)  # gathered key blocks
            vg = v[:, heads, idx].reshape(b, h, m, slots * block, dh)
            slot_ok = torch.from_numpy(valid_np).to(device)[..., None].expand(h, m, slots, block)
            valid = (keys_ok[:, idx] & slot_ok).reshape(b, h, m, 1, slots * block)
            qm = q[:, :, rows[0] : rows[-1] + 1]
            pieces.append(attend(qm, kg, vg, valid, self.attention_dropout, self.training))
        if last_global:
            pieces.append(y_global[:, :, 1:])
        y = torch.cat(pieces, dim=2)
        return self.out(merge_heads(from_blocks(y, length)))


def build(config: BigBirdConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda layer: BigBirdAttention(config, layer, inputs.max_length))


def flops(config: BigBirdConfig, batch: int, length: int) -> float:
    """Analytic forward FLOPs (the input is assumed to fill its grid: ``max_length == length``)."""
    b = config.block_size
    n = num_blocks(length, b)
    n_global = min(n, 2)
    attn = attention_flops(n_global * b, n * b, config.qkv_dim)
    attn += attention_flops((n - n_global) * b, (5 + config.num_random_blocks) * b, config.qkv_dim)
    per_layer = dense_layer_flops(config, length) + attn
    return float(batch * config.num_layers * per_layer)


CARD = ModelCard(
    name="bigbird",
    framework="torch",
    factory=build,
    config=BigBirdConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description=(
        "BigBird block-sparse ITC attention: first/last blocks global, others attend a 3-block band, "
        "the global blocks and 3 random blocks (block 64; random pattern seeded by the layer index). "
        "Pattern defined on the task's max-length block grid, so appended padding never moves real outputs."
    ),
    reference="Zaheer et al., Big Bird: Transformers for Longer Sequences, NeurIPS 2020",
    task_overrides={
        "image": {"model.block_size": 64},
        "image@code": {
            "model.num_layers": 1,
            "model.d_model": 128,
            "model.qkv_dim": 64,
            "model.mlp_dim": 128,
            # LRA's config sets `num_head=4` (a typo, reference §10.6); 4 heads is what it meant.
            "model.num_heads": 4,
            "pooling": "cls",
        },
        "pathfinder": {"model.block_size": 64},
        "pathfinder@code": {
            "model.num_layers": 4,
            "model.num_heads": 2,
            "model.d_model": 64,
            "model.qkv_dim": 32,
            "model.mlp_dim": 64,
            "model.dropout": 0.2,
        },
    },
    flops=flops,
)
