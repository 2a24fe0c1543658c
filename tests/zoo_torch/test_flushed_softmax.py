"""Sinkhorn's attention helpers: the sum of separately normalised attentions, and negligible weights.

``attend_separate`` must equal the plain sum of per-part softmax attentions (outputs and gradients),
and ``flushed_softmax`` must zero exactly the weights at or below ``NEGLIGIBLE_WEIGHT`` (their
gradients too) while leaving every other weight and gradient as the plain softmax gives them.
"""

from __future__ import annotations

import math

import pytest
import torch

from lra_torch.models.blocks import NEGLIGIBLE_WEIGHT, attend_separate, flushed_softmax
from lra_torch.models.sinkhorn import SinkhornAttention, SinkhornConfig


def _reference(q: torch.Tensor, parts: list[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]) -> torch.Tensor:
    out = torch.zeros_like(q)
    for k, v, valid in parts:
        scores = (q @ k.transpose(-1, -2)) / math.sqrt(q.shape[-1])
        out = out + torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=-1) @ v
    return out


@pytest.mark.parametrize("padded", [False, True])
def test_attend_separate_equals_the_sum_of_softmax_attentions(padded: bool) -> None:
    g = torch.Generator().manual_seed(0)
    shape = (2, 3, 5, 8, 16)  # [B, H, blocks, block, Dh]
    q, k1, v1, k2, v2 = (torch.randn(shape, generator=g, dtype=torch.float64, requires_grad=True) for _ in range(5))
    ok1 = torch.ones(2, 1, 5, 1, 8, dtype=torch.bool)
    ok2 = torch.ones(2, 1, 1, 1, 8, dtype=torch.bool)
    if padded:
        ok1[1, :, -1, :, 5:] = False  # the second example's last block is partly padding
        ok2[1, ..., 6:] = False
    parts = [(k1, v1, ok1), (k2, v2, ok2)]
    got, want = attend_separate(q, parts), _reference(q, parts)
    assert got.shape == shape and got.dtype == torch.float64
    torch.testing.assert_close(got, want, rtol=1e-12, atol=1e-12)
    cot = torch.randn(shape, generator=g, dtype=torch.float64)
    inputs = [q, k1, v1, k2, v2]
    for a, b in zip(torch.autograd.grad((got * cot).sum(), inputs), torch.autograd.grad((want * cot).sum(), inputs)):
        torch.testing.assert_close(a, b, rtol=1e-10, atol=1e-12)
    if padded:  # padded keys and values receive no gradient
        gk1, gv2 = torch.autograd.grad((attend_separate(q, parts) * cot).sum(), [k1, v2])
        assert (gk1[1, :, -1, 5:] == 0).all() and (gv2[1, ..., 6:, :] == 0).all()


def test_flushed_softmax_zeroes_negligible_weights_and_only_those() -> None:
    scores = torch.tensor([[0.0, -10.0, -26.0, -29.0, -60.0, -200.0]], dtype=torch.float32, requires_grad=True)
    plain = torch.softmax(scores, dim=-1)
    weights = flushed_softmax(scores)
    assert weights.dtype == torch.float32
    # e^-26 = 5.1e-12 is kept, e^-29 = 2.5e-13 <= 2^-40 = 9.1e-13 and smaller are exact zeros
    assert (weights[0, :3] > 0).all() and (weights[0, 3:] == 0).all()
    assert float(plain[0, 3].detach()) <= NEGLIGIBLE_WEIGHT < float(plain[0, 2].detach())
    torch.testing.assert_close(weights[0, :3], plain[0, :3], rtol=0, atol=0)
    # the flushed function's gradient: zero at the flushed entries, the softmax's elsewhere
    cot = torch.tensor([[0.3, -1.0, 2.0, 5.0, -4.0, 1.0]])
    (g,) = torch.autograd.grad((weights * cot).sum(), scores)
    (g_plain,) = torch.autograd.grad((plain * cot).sum(), scores)
    assert (g[0, 3:] == 0).all()
    torch.testing.assert_close(g[0, :3], g_plain[0, :3], rtol=1e-6, atol=1e-12)


def test_sinkhorn_permutation_has_no_negligible_entries_and_rows_sum_to_one() -> None:
    torch.manual_seed(0)
    cfg = SinkhornConfig(num_heads=2, qkv_dim=16, d_model=24, block_size=4)
    attn = SinkhornAttention(cfg, max_length=40)
    block_sums = 30.0 * torch.randn(2, 2, 10, 8)  # large sums: a nearly one-hot P with far tails
    real = torch.ones(2, 10, dtype=torch.bool)
    real[1, 7:] = False
    p = attn.permutation(block_sums, real)
    assert p.shape == (2, 2, 10, 10)
    assert not ((p > 0) & (p <= NEGLIGIBLE_WEIGHT)).any()
    assert (p == 0).any()  # the far tails were there and are exact zeros
    torch.testing.assert_close(p[0].sum(-1), torch.ones(2, 10), rtol=0, atol=1e-6)
    torch.testing.assert_close(p[1, :, :7].sum(-1), torch.ones(2, 7), rtol=0, atol=1e-6)
    assert (p[1, :, 7:] == 0).all() and (p[1, :, :, 7:] == 0).all()
