"""BigBird in Flax (twin of ``lra_torch.models.bigbird``): block-sparse ITC attention.

The length is padded to a multiple of ``block_size`` (``b``); blocks are contiguous. The pattern is
defined on a fixed grid of ``G = max(ceil(max_length / b), n)`` blocks (``max_length`` the task's,
``n = ceil(L / b)`` the blocks present), so appended padding never moves real outputs:

- the first block (0) and the last grid block (``G - 1``) are *global*: they attend to every key,
  and every query attends to them;
- every other block ``i`` attends to the band ``i-1, i, i+1``, to blocks ``0`` and ``G-1``, and to
  ``num_random_blocks`` (``r``) random blocks drawn among the blocks not already in its row;
- grid blocks beyond ``n`` do not exist in this input, so their keys are absent.

Random blocks are drawn at trace time with NumPy by exactly the torch twin's recipe (the same
function, reproduced here so that ``lra_jax`` does not import ``lra_torch``): for layer ``layer``,
``rng = numpy.random.default_rng(layer)``; for each head, for each row ``i = 1 .. G-2``, the row's
blocks are ``rng.permutation([j in 1..G-2 with |j - i| > 1])[:r]``.

Computation: the block pattern becomes a static index table ``[H, M, 5 + r]`` (first, band of 3,
last, ``r`` random; duplicated or absent slots masked). Every non-global query block gathers its key
blocks in one gather and attends with one softmax; the (at most two) global query blocks attend
densely. Cost ``O(L * (5 + r + 2) * b)``: linear in ``L``.
Parameters: ``query``, ``key``, ``value``, ``out``.
"""

from __future__ import annotations

import math
from functools import lru_cache

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np
from pydantic import Field

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .blocks import attend, attention_flops, dense_layer_flops, from_blocks, mask_blocks, num_blocks, to_blocks
from .common import Encoder, ProjectedAttention, merge_heads


class BigBirdConfig(EncoderConfig):
    block_size: int = Field(64, ge=1, description="tokens per block b")
    num_random_blocks: int = Field(3, ge=0, description="random key blocks r per non-global query block")


@lru_cache(maxsize=64)
def random_blocks(grid: int, num_random: int, num_heads: int, layer: int) -> np.ndarray:
    """``int64 [num_heads, grid, num_random]``: the random key blocks of each row (-1 = none).

    Rows 0 and ``grid-1`` are global and keep -1. The draw order is part of the contract with the
    torch twin (see the module docstring): do not vectorise it.
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

    Slots per non-global row ``i``: ``[0, i-1, i, i+1, grid-1, random...]``. Computed in NumPy at
    trace time (vectorised over rows): the result is a constant index table for one gather.
    """
    heads, _, r = table.shape
    last = grid - 1
    global_rows = [0] + ([last] if n == grid and last > 0 else [])
    rows = np.array([i for i in range(n) if i not in global_rows], dtype=np.int64)
    i = rows[:, None]
    fixed_blk = np.concatenate([np.zeros_like(i), i - 1, i, i + 1, np.full_like(i, last)], axis=1)  # [M, 5]
    fixed_ok = np.concatenate(
        [np.ones_like(i, bool), i - 1 >= 1, np.ones_like(i, bool), (i + 1 < n) & (i + 1 != last), np.full(i.shape, last < n)],
        axis=1,
    )
    rand = table[:, rows, :]  # [H, M, r]
    rand_ok = (rand >= 0) & (rand < n)
    idx = np.concatenate([np.broadcast_to(np.where(fixed_ok, fixed_blk, 0), (heads, *fixed_blk.shape)), np.where(rand_ok, rand, 0)], axis=2)
    valid = np.concatenate([np.broadcast_to(fixed_ok, (heads, *fixed_ok.shape)), rand_ok], axis=2)
    return global_rows, rows.tolist(), idx.astype(np.int64), valid


class BigBirdAttention(ProjectedAttention):
    config: BigBirdConfig
    layer: int = 0
    max_length: int = 1

    def pattern(self, length: int) -> tuple[list[int], list[int], np.ndarray, np.ndarray]:
        """The block pattern this layer uses for inputs of ``length`` tokens (see :func:`block_pattern`)."""
        c = self.config
        grid = grid_blocks(length, self.max_length, c.block_size)
        table = random_blocks(grid, c.num_random_blocks, c.num_heads, self.layer)
        return block_pattern(num_blocks(length, c.block_size), grid, table)

    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        length = x.shape[1]
        block = self.config.block_size
        drop = lambda w: self.attn_dropout(w, deterministic=not train)  # noqa: E731
        q, k, v = (to_blocks(t, block) for t in self.project(x))  # [B, H, n, b, Dh]
        b, h, n, _, dh = q.shape
        keys_ok = mask_blocks(mask, block)  # [B, n, b]
        global_rows, rows, idx_np, valid_np = self.pattern(length)

        # Global query blocks: dense attention over all keys.
        g = np.asarray(global_rows)
        flat_k, flat_v = k.reshape(b, h, 1, n * block, dh), v.reshape(b, h, 1, n * block, dh)
        all_ok = keys_ok.reshape(b, 1, 1, 1, n * block)
        yg = attend(q[:, :, g], flat_k, flat_v, all_ok, drop)  # [B, H, len(g), b, Dh]

        # The global rows are block 0 and (when present) block n-1; the others lie in between.
        pieces = [yg[:, :, :1]]
        if rows:
            m, slots = len(rows), idx_np.shape[-1]
            heads = np.arange(h)[:, None, None]
            kg = k[:, heads, idx_np].reshape(b, h, m, slots * block, dh)  # gathered key blocks
            vg = v[:, heads, idx_np].reshape(b, h, m, slots * block, dh)
            slot_ok = jnp.asarray(valid_np)[..., None]  # [H, M, S, 1]
            gathered_ok = keys_ok[:, idx_np] & slot_ok  # [B, H, M, S, b]
            valid = gathered_ok.reshape(b, h, m, 1, slots * block)
            pieces.append(attend(q[:, :, rows[0] : rows[-1] + 1], kg, vg, valid, drop))
        pieces.append(yg[:, :, 1:])
        y = jnp.concatenate(pieces, axis=2)
        return self.out(merge_heads(from_blocks(y, length)))


def build(config: BigBirdConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda layer: BigBirdAttention(config, layer=layer, max_length=inputs.max_length))


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
    framework="jax",
    factory=build,
    config=BigBirdConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description=(
        "BigBird (Flax) block-sparse ITC attention: first/last blocks global, others attend a 3-block band, "
        "the global blocks and 3 random blocks (block 64; random pattern seeded by the layer index, drawn "
        "with NumPy exactly as the torch twin). Pattern defined on the task's max-length block grid, so "
        "appended padding never moves real outputs."
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
