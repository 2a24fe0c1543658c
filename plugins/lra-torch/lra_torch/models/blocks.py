"""Helpers shared by the block-sparse and windowed attentions (local, sparse, Longformer, BigBird, Sinkhorn).

Everything here is plain tensor algebra on ``[B, H, L, Dh]`` heads:

- :func:`to_blocks` pads the length to a multiple of the block size and reshapes to
  ``[B, H, n_blocks, block, Dh]`` (contiguous blocks: block ``i`` holds positions ``i*block ..``);
- :func:`mask_blocks` does the same for the key mask (padding appended as ``False``);
- :func:`attend_parts` is softmax attention over the *union* of several key sets, each with its own
  validity mask, so a query block can read its local block, a band, global and random blocks with
  one normalisation, and only those keys are ever multiplied.

Masked scores are filled with the dtype's most negative finite value, not ``-inf``: a query row
whose keys are all invalid (a position inside a block made only of padding) then gets a finite,
uniform average, never NaN, and real rows are unaffected because ``exp(min - max) == 0``.
Attention goes through explicit matmuls (not ``scaled_dot_product_attention``) so that the math is
visible and ``torch.utils.flop_counter`` counts it.
"""

from __future__ import annotations

import math
from typing import Sequence

import torch
import torch.nn.functional as F

from lra_core import EncoderConfig


def num_blocks(length: int, block: int) -> int:
    return max(1, math.ceil(length / block))


def to_blocks(x: torch.Tensor, block: int) -> torch.Tensor:
    """``[B, H, L, Dh]`` -> ``[B, H, ceil(L/block), block, Dh]``, zero-padded at the end."""
    b, h, length, dh = x.shape
    n = num_blocks(length, block)
    if n * block != length:
        x = F.pad(x, (0, 0, 0, n * block - length))
    return x.view(b, h, n, block, dh)


def mask_blocks(mask: torch.Tensor, block: int) -> torch.Tensor:
    """``[B, L]`` bool -> ``[B, ceil(L/block), block]``, padded with ``False``."""
    b, length = mask.shape
    n = num_blocks(length, block)
    if n * block != length:
        mask = F.pad(mask, (0, n * block - length), value=False)
    return mask.view(b, n, block)


def from_blocks(y: torch.Tensor, length: int) -> torch.Tensor:
    """``[B, H, n, block, Dh]`` -> ``[B, H, length, Dh]`` (drops the block padding)."""
    b, h, n, block, dh = y.shape
    return y.reshape(b, h, n * block, dh)[:, :, :length]


def attend_parts(
    q: torch.Tensor,
    parts: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    dropout_p: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """``softmax([q k_1^T | q k_2^T | ...] / sqrt(Dh)) [v_1; v_2; ...]`` with one normalisation.

    ``q``: ``[..., Q, Dh]``; each part is ``(k [..., K_i, Dh], v [..., K_i, Dh], valid [..., Q|1, K_i])``
    with leading dims broadcastable against ``q``'s. A key that appears in two parts must be valid
    in only one of them (the caller's pattern guarantees it), or it would be counted twice.
    """
    q = q * (q.shape[-1] ** -0.5)
    neg = torch.finfo(q.dtype).min
    scores = [torch.matmul(q, k.transpose(-1, -2)).masked_fill(~valid, neg) for k, _, valid in parts]
    sizes = [s.shape[-1] for s in scores]
    weights = torch.softmax(torch.cat(scores, dim=-1) if len(scores) > 1 else scores[0], dim=-1)
    if training and dropout_p > 0.0:
        weights = F.dropout(weights, dropout_p)
    if len(parts) == 1:
        return torch.matmul(weights, parts[0][1])
    out = None
    for w, (_, v, _) in zip(weights.split(sizes, dim=-1), parts):
        y = torch.matmul(w, v)
        out = y if out is None else out + y
    assert out is not None
    return out


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    valid: torch.Tensor,
    dropout_p: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """Masked softmax attention over one key set (see :func:`attend_parts`)."""
    return attend_parts(q, [(k, v, valid)], dropout_p, training)


def dense_layer_flops(config: EncoderConfig, length: int) -> float:
    """Forward FLOPs of one block outside the attention scores: q/k/v/out projections and the MLP."""
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    return 2.0 * length * (3 * d * qkv + qkv * d + 2 * d * m)


def attention_flops(queries: int, keys_per_query: float, qkv_dim: int) -> float:
    """FLOPs of ``q k^T`` and ``w v`` over all heads for ``queries`` rows of ``keys_per_query`` keys."""
    return 2.0 * 2.0 * queries * keys_per_query * qkv_dim
