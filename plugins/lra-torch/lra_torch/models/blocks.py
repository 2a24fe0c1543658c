"""Helpers shared by the block-sparse and windowed attentions (local, sparse, Longformer, BigBird, Sinkhorn).

Everything here is plain tensor algebra on ``[B, H, L, Dh]`` heads:

- :func:`to_blocks` pads the length to a multiple of the block size and reshapes to
  ``[B, H, n_blocks, block, Dh]`` (contiguous blocks: block ``i`` holds positions ``i*block ..``);
- :func:`mask_blocks` does the same for the key mask (padding appended as ``False``);
- :func:`attend_parts` is softmax attention over the *union* of several key sets, each with its own
  validity mask, so a query block can read its local block, a band, global and random blocks with
  one normalisation, and only those keys are ever multiplied.

- :func:`project_heads` computes q, k, v with one matmul (the three weights concatenated) and lays
  them out as contiguous ``[B, H, L, Dh]``, so the block matmuls that follow need no hidden copies;
- :func:`attend_separate` is a *sum* of attentions, each part normalised on its own (Sinkhorn's local
  plus sorted attention), with negligible weights flushed to zero (:func:`flushed_softmax`).

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


# Attention weights at or below 2^-40 (9.1e-13) are set to exact zeros (see :func:`flushed_softmax`).
NEGLIGIBLE_WEIGHT = 2.0**-40


def project_heads(attn: torch.nn.Module, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """``attn.project(x)`` as one fused matmul: contiguous q, k, v ``[B, H, L, Dh]`` (same weights, same math).

    ``attn`` is a :class:`~lra_torch.models.common.ProjectedAttention` (``query``/``key``/``value``
    Linear layers without bias). One ``[L, D] x [D, 3 qkv]`` product is faster than three, and the
    single layout copy replaces the copies every later matmul would make of transposed views.
    """
    b, length, _ = x.shape
    weight = torch.cat([attn.query.weight, attn.key.weight, attn.value.weight], dim=0)
    qkv = F.linear(x, weight).view(b, length, 3, attn.num_heads, attn.head_dim).permute(2, 0, 3, 1, 4).contiguous()
    q, k, v = qkv.unbind(0)  # unbind: one stacked gradient in backward, not three zero-filled ones
    return q, k, v


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


def masks_anything(valid: torch.Tensor) -> bool:
    """Whether masking with ``valid`` can change anything; False lets a caller skip the pass.

    Checked on the CPU only: there a pass over the scores (and its backward) costs more than the
    check, while on CUDA reading the answer would stall the host until the GPU catches up.
    """
    return valid.device.type != "cpu" or not bool(valid.all())


def attend_parts(
    q: torch.Tensor,
    parts: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    dropout_p: float = 0.0,
    training: bool = False,
    scaled: bool = False,
) -> torch.Tensor:
    """``softmax([q k_1^T | q k_2^T | ...] / sqrt(Dh)) [v_1; v_2; ...]`` with one normalisation.

    ``q``: ``[..., Q, Dh]``; each part is ``(k [..., K_i, Dh], v [..., K_i, Dh], valid [..., Q|1, K_i])``
    with leading dims broadcastable against ``q``'s. A key that appears in two parts must be valid
    in only one of them (the caller's pattern guarantees it), or it would be counted twice.
    ``scaled=True``: ``q`` already carries the ``1/sqrt(Dh)`` (folded into its projection weight).
    """
    if not scaled:
        q = q * (q.shape[-1] ** -0.5)
    neg = torch.finfo(q.dtype).min
    scores = [torch.matmul(q, k.transpose(-1, -2)) for k, _, _ in parts]
    for s, (_, _, valid) in zip(scores, parts):
        if masks_anything(valid):
            s.masked_fill_(~valid, neg)
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


class _FlushedSoftmax(torch.autograd.Function):
    """``softmax`` over the last dim whose weights at or below :data:`NEGLIGIBLE_WEIGHT` (2^-40) are exact zeros.

    Why: x86 computes subnormal fp32 values (below 1.2e-38) through microcode assists, 10-100x
    slower, in every matmul that reads or produces them, and tiny weights produce them: Sinkhorn's
    mixed keys spread the scores so far that a layer had thousands of weights under 1e-30, and in
    the backward a tiny weight times a small gradient, times a key near zero (a slot the soft
    permutation barely fills), underflowed. Measured at 4K tokens: one score matmul of the backward
    took 15 ms instead of 2. With weights and permutation entries >= 2^-40 (9.1e-13) such double
    products stay normal while gradient times key exceeds ~1e-14. Zeroing is invisible: a row's
    zeroed weights together move its output by at most ``K * 2^-40`` of its largest value (6e-11
    for 64 keys), 2000 times below fp32's resolution.

    The flush is one in-place pass after the softmax; the backward is the fused softmax backward
    on the flushed weights, the exact gradient of the flushed function (zeros stay zeros).
    """

    @staticmethod
    def forward(ctx: torch.autograd.function.FunctionCtx, scores: torch.Tensor) -> torch.Tensor:
        weights = torch.softmax(scores, dim=-1)
        F.threshold(weights, NEGLIGIBLE_WEIGHT, 0.0, inplace=True)  # in place: w <= 2^-40 -> 0
        ctx.save_for_backward(weights)
        return weights

    @staticmethod
    def backward(ctx: torch.autograd.function.FunctionCtx, grad: torch.Tensor) -> torch.Tensor:
        (weights,) = ctx.saved_tensors
        # w * (grad - sum(w * grad)) in one fused kernel, as autograd's own softmax backward.
        return torch._softmax_backward_data(grad, weights, -1, weights.dtype)


def flushed_softmax(scores: torch.Tensor) -> torch.Tensor:
    """Softmax over the last dim, weights <= :data:`NEGLIGIBLE_WEIGHT` set to exact zeros (see :class:`_FlushedSoftmax`)."""
    return _FlushedSoftmax.apply(scores)


def attend_separate(
    q: torch.Tensor,
    parts: Sequence[tuple[torch.Tensor, torch.Tensor, torch.Tensor]],
    dropout_p: float = 0.0,
    training: bool = False,
) -> torch.Tensor:
    """``sum_i softmax(q k_i^T / sqrt(Dh)) v_i``: each part normalised on its own, then summed.

    Same arguments as :func:`attend_parts`. Each part takes its own score matmul and softmax (no
    concatenated copies of the keys and values), and the outputs accumulate into the first part's
    with ``baddbmm``. Weights <= 2^-40 are exact zeros (:func:`flushed_softmax`): Sinkhorn's mixed
    keys spread the scores far enough that products of tiny weights would be subnormal and slow the
    matmuls ~5x. Without padding (on the CPU) no pass is made over the scores to mask them.
    """
    q = q * (q.shape[-1] ** -0.5)
    neg = torch.finfo(q.dtype).min
    out: torch.Tensor | None = None
    for k, v, valid in parts:
        scores = torch.matmul(q, k.transpose(-1, -2))
        if masks_anything(valid):
            scores.masked_fill_(~valid, neg)
        weights = flushed_softmax(scores)
        if training and dropout_p > 0.0:
            weights = F.dropout(weights, dropout_p)
        if out is None:
            out = torch.matmul(weights, v)
        else:  # out += weights @ v inside the GEMM, as [batch, Q, K] x [batch, K, Dh]
            w3, v3 = weights.flatten(0, -3), v.expand(*weights.shape[:-2], *v.shape[-2:]).flatten(0, -3)
            out = torch.baddbmm(out.flatten(0, -3), w3, v3).view(out.shape)
    assert out is not None
    return out


def attend(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    valid: torch.Tensor,
    dropout_p: float = 0.0,
    training: bool = False,
    scaled: bool = False,
) -> torch.Tensor:
    """Masked softmax attention over one key set (see :func:`attend_parts`)."""
    return attend_parts(q, [(k, v, valid)], dropout_p, training, scaled)


def dense_layer_flops(config: EncoderConfig, length: int) -> float:
    """Forward FLOPs of one block outside the attention scores: q/k/v/out projections and the MLP."""
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    return 2.0 * length * (3 * d * qkv + qkv * d + 2 * d * m)


def attention_flops(queries: int, keys_per_query: float, qkv_dim: int) -> float:
    """FLOPs of ``q k^T`` and ``w v`` over all heads for ``queries`` rows of ``keys_per_query`` keys."""
    return 2.0 * 2.0 * queries * keys_per_query * qkv_dim
