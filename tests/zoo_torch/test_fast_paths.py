"""Fast paths of the torch zoo agree with the plain computation they replace.

sparse_transformer computes its union softmax with SDPA and a local "anchor" key when there is no
attention dropout, and materialises the scores otherwise; linear_transformer and sinkhorn skip
their padding masks when the batch has no padding (local's and the other block models' through
``blocks.masks_anything``). Each pair must give the same outputs.
"""

from __future__ import annotations

import pytest
import torch

from lra_core import EncoderInputs
from lra_torch.models import linear_transformer, local, sinkhorn, sparse_transformer


def _inputs(length: int, real: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(len(real), length, 24, generator=g, dtype=torch.float64)
    mask = torch.arange(length)[None, :] < torch.tensor(real)[:, None]
    return x, mask


@pytest.mark.parametrize("length, real", [(40, [40, 40]), (37, [37, 20]), (64, [64, 9])])
def test_sparse_fused_union_equals_explicit_union(length: int, real: list[int]) -> None:
    torch.manual_seed(0)
    cfg = sparse_transformer.SparseTransformerConfig(num_heads=2, qkv_dim=16, d_model=24, block_size=8, summary=2)
    attn = sparse_transformer.SparseAttention(cfg).double().eval()
    x, mask = _inputs(length, real)
    local, q_rows, ks, vs, vb, ok = attn.union_parts(x, mask)  # ok: None without padding
    fused = attn._union_fused(local, q_rows, ks, vs, vb, ok)
    explicit = attn._union_explicit(local, q_rows, ks, vs, vb, ok, dropout=0.0)
    rows = torch.nn.functional.pad(mask, (0, q_rows.shape[2] - length))[:, None, :, None].expand_as(fused)
    torch.testing.assert_close(fused[rows], explicit[rows], rtol=1e-10, atol=1e-10)
    # gradients agree too (the anchor's score and value carry the local part's gradient)
    g = torch.randn_like(fused) * rows
    weights = [attn.query.weight, attn.key.weight, attn.value.weight]
    grads_f = torch.autograd.grad((fused * g).sum(), weights)
    grads_e = torch.autograd.grad((attn._union_explicit(*attn.union_parts(x, mask)[:5], ok, dropout=0.0) * g).sum(), weights)
    for a, b in zip(grads_f, grads_e):
        torch.testing.assert_close(a, b, rtol=1e-9, atol=1e-10)


def test_sparse_training_with_attention_dropout_uses_the_explicit_union_and_stays_finite() -> None:
    cfg = sparse_transformer.SparseTransformerConfig(num_heads=2, qkv_dim=16, d_model=24, block_size=8, summary=2,
                                                     attention_dropout=0.5)
    attn = sparse_transformer.SparseAttention(cfg).double().train()
    x, mask = _inputs(37, [37, 20])
    y = attn(x, mask)
    assert torch.isfinite(y).all()
    attn.eval()  # no dropout: fused union, deterministic
    torch.testing.assert_close(attn(x, mask), attn(x, mask))


@pytest.mark.parametrize(
    "module, extra", [(linear_transformer, {}), (sinkhorn, {"block_size": 8}), (local, {"block_size": 8})]
)
def test_unpadded_fast_path_equals_masked_path(module, extra) -> None:
    """A batch without padding (mask skipped) equals the same rows run next to a padded example."""
    torch.manual_seed(0)
    cfg = module.CARD.config(num_heads=2, qkv_dim=16, d_model=24, mlp_dim=32, num_layers=2, **extra)
    enc = module.CARD.factory(cfg, EncoderInputs(vocab_size=30, max_length=64)).double().eval()
    g = torch.Generator().manual_seed(3)
    tokens = torch.randint(1, 30, (2, 32), generator=g)
    full = torch.ones(2, 32, dtype=torch.bool)
    padded = full.clone()
    padded[1, 20:] = False
    with torch.no_grad():
        alone = enc(tokens[:1], full[:1])  # no padding anywhere: masks skipped
        beside = enc(tokens, padded)[:1]  # same example in a padded batch: masks applied
    torch.testing.assert_close(alone, beside, rtol=1e-10, atol=1e-10)
