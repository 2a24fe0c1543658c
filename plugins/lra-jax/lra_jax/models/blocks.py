"""Helpers shared by the block-sparse and windowed Flax attentions (twin of ``lra_torch.models.blocks``).

The projections of :class:`~lra_jax.models.common.ProjectedAttention` come out as ``[B, L, H, Dh]``;
the blocked attentions work on ``[B, H, ...]`` heads, as their torch twins do:

- :func:`to_blocks` pads the length to a multiple of the block size and reshapes
  ``[B, L, H, Dh]`` to ``[B, H, n_blocks, block, Dh]`` (contiguous blocks: block ``i`` holds
  positions ``i*block ..``); :func:`from_blocks` undoes it (back to ``[B, L, H, Dh]``);
- :func:`mask_blocks` cuts the key mask the same way (padding appended as ``False``);
- :func:`attend_parts` is softmax attention over the *union* of several key sets, each with its own
  validity mask, normalised by one softmax, so only the keys a pattern needs are ever multiplied.

Everything is reshapes, static gathers and batched matmuls: the traced program does not grow with
the sequence length. Masked scores are filled with the dtype's most negative finite value (as the
torch twin), so a query row whose keys are all invalid gets a finite uniform average, never NaN.
"""

from __future__ import annotations

import math
from typing import Callable, Sequence

import jax
import jax.numpy as jnp

from lra_core import EncoderConfig

#: ``dropout(weights) -> weights``: the attention-dropout callable (identity in eval).
Dropout = Callable[[jax.Array], jax.Array]


def num_blocks(length: int, block: int) -> int:
    return max(1, math.ceil(length / block))


def heads_first(x: jax.Array) -> jax.Array:
    """``[B, L, H, Dh]`` -> ``[B, H, L, Dh]``."""
    return x.transpose(0, 2, 1, 3)


def to_blocks(x: jax.Array, block: int) -> jax.Array:
    """``[B, L, H, Dh]`` -> ``[B, H, ceil(L/block), block, Dh]``, zero-padded at the end."""
    b, length, h, dh = x.shape
    n = num_blocks(length, block)
    if n * block != length:
        x = jnp.pad(x, ((0, 0), (0, n * block - length), (0, 0), (0, 0)))
    return x.reshape(b, n, block, h, dh).transpose(0, 3, 1, 2, 4)


def mask_blocks(mask: jax.Array, block: int) -> jax.Array:
    """``[B, L]`` bool -> ``[B, ceil(L/block), block]``, padded with ``False``."""
    b, length = mask.shape
    n = num_blocks(length, block)
    if n * block != length:
        mask = jnp.pad(mask, ((0, 0), (0, n * block - length)), constant_values=False)
    return mask.reshape(b, n, block)


def from_blocks(y: jax.Array, length: int) -> jax.Array:
    """``[B, H, n, block, Dh]`` -> ``[B, length, H, Dh]`` (drops the block padding)."""
    b, h, n, block, dh = y.shape
    return y.reshape(b, h, n * block, dh)[:, :, :length].transpose(0, 2, 1, 3)


def attend_parts(
    q: jax.Array,
    parts: Sequence[tuple[jax.Array, jax.Array, jax.Array]],
    dropout: Dropout | None = None,
) -> jax.Array:
    """``softmax([q k_1^T | q k_2^T | ...] / sqrt(Dh)) [v_1; v_2; ...]`` with one normalisation.

    ``q``: ``[..., Q, Dh]``; each part is ``(k [..., K_i, Dh], v [..., K_i, Dh], valid [..., Q|1, K_i])``
    with leading dims broadcastable against ``q``'s. A key present in two parts must be valid in only
    one of them (the caller's pattern guarantees it), or it would be counted twice.
    """
    q = q * jnp.asarray(q.shape[-1] ** -0.5, q.dtype)
    neg = jnp.finfo(q.dtype).min
    scores = [jnp.where(valid, jnp.matmul(q, jnp.swapaxes(k, -1, -2)), neg) for k, _, valid in parts]
    sizes = [s.shape[-1] for s in scores]
    if len(scores) > 1:
        # Broadcast every part to a common leading shape before concatenating along the keys.
        lead = jnp.broadcast_shapes(*(s.shape[:-1] for s in scores))
        scores = [jnp.broadcast_to(s, (*lead, s.shape[-1])) for s in scores]
        logits = jnp.concatenate(scores, axis=-1)
    else:
        logits = scores[0]
    # Softmax in fp32 (a no-op in fp32 runs; keeps bf16 runs stable), then back to the input dtype.
    weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(q.dtype)
    if dropout is not None:
        weights = dropout(weights)
    out = None
    start = 0
    for size, (_, v, _) in zip(sizes, parts):
        y = jnp.matmul(weights[..., start : start + size], v)
        out = y if out is None else out + y
        start += size
    assert out is not None
    return out


def attend(q: jax.Array, k: jax.Array, v: jax.Array, valid: jax.Array, dropout: Dropout | None = None) -> jax.Array:
    """Masked softmax attention over one key set (see :func:`attend_parts`)."""
    return attend_parts(q, [(k, v, valid)], dropout)


def dense_layer_flops(config: EncoderConfig, length: int) -> float:
    """Forward FLOPs of one block outside the attention scores: q/k/v/out projections and the MLP."""
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    return 2.0 * length * (3 * d * qkv + qkv * d + 2 * d * m)


def attention_flops(queries: int, keys_per_query: float, qkv_dim: int) -> float:
    """FLOPs of ``q k^T`` and ``w v`` over all heads for ``queries`` rows of ``keys_per_query`` keys."""
    return 2.0 * 2.0 * queries * keys_per_query * qkv_dim
