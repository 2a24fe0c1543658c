"""The five non-block efficient Transformers against dense reference computations written here."""

from __future__ import annotations

import importlib

import pytest
import torch
from torch.utils.flop_counter import FlopCounterMode

from lra_core import EncoderInputs

NAMES = ["linear_transformer", "performer", "linformer", "synthesizer", "reformer"]
VARIANTS = {
    "performer": [{}, {"kernel": "softmax", "nb_features": 16, "redraw": False}],
    "synthesizer": [{}, {"synthesizer_mode": "factorized_random"}, {"synthesizer_mode": "dense", "ignore_dot_product": True}],
    "reformer": [{}, {"n_hashes": 2}],
}


def module(name):
    return importlib.import_module(f"lra_torch.models.{name}")


def build(name, max_length=48, **extra):
    torch.manual_seed(0)
    m = module(name)
    cfg = m.CARD.config(**extra)
    return m.CARD.factory(cfg, EncoderInputs(vocab_size=20, max_length=max_length)).eval(), cfg


def cases():
    for name in NAMES:
        for extra in VARIANTS.get(name, [{}]):
            yield pytest.param(name, extra, id=f"{name}-{extra}")


@pytest.mark.parametrize("name, extra", list(cases()))
@pytest.mark.parametrize("length", [1, 7, 33])
def test_padding_never_reaches_real_positions(name, extra, length):
    enc, _ = build(name, **extra)
    g = torch.Generator().manual_seed(1)
    tokens = torch.randint(1, 20, (2, length), generator=g)
    mask = torch.ones(2, length, dtype=torch.bool)
    real = length // 2 + 1
    mask[1, real:] = False
    with torch.no_grad():
        y = enc(tokens, mask)
        changed = tokens.clone()
        changed[1, real:] = 3
        y_changed = enc(changed, mask)
        longer = torch.cat([tokens, torch.zeros(2, 9, dtype=torch.long)], 1)
        y_longer = enc(longer, torch.cat([mask, torch.zeros(2, 9, dtype=torch.bool)], 1))
    assert y.shape == (2, length, 32) and y.dtype == torch.float32 and torch.isfinite(y).all()
    torch.testing.assert_close(y[1, :real], y_changed[1, :real], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(y[mask], y_longer[:, :length][mask], rtol=1e-5, atol=1e-5)


def _layer_input(enc, tokens):
    return enc.layers[0].norm1(enc.embeddings(tokens))


def _dense_kernel_attention(phi_q, phi_k, v, keep, eps=0.0):
    """sum_j phi(q_i).phi(k_j) v_j / sum_j phi(q_i).phi(k_j), over real keys only: O(L^2)."""
    scores = torch.einsum("bhim,bhjm->bhij", phi_q, phi_k) * keep[:, None, None, :]
    return torch.einsum("bhij,bhjd->bhid", scores, v) / (scores.sum(-1, keepdim=True) + eps)


def test_linear_transformer_equals_dense_kernel_attention():
    from lra_torch.models.common import merge_heads
    from lra_torch.models.linear_transformer import feature_map

    enc, cfg = build("linear_transformer")
    tokens = torch.randint(1, 20, (2, 11))
    mask = torch.ones(2, 11, dtype=torch.bool)
    mask[0, 8:] = False
    attn = enc.layers[0].attn
    with torch.no_grad():
        x = _layer_input(enc, tokens)
        q, k, v = attn.project(x)
        want = attn.out(merge_heads(_dense_kernel_attention(feature_map(q), feature_map(k), v, mask.float(), cfg.eps)))
        torch.testing.assert_close(attn(x, mask), want, rtol=1e-5, atol=1e-5)


def test_performer_relu_equals_dense_kernel_attention_and_softmax_approximates_softmax():
    from lra_torch.models.common import merge_heads

    enc, _ = build("performer")
    tokens = torch.randint(1, 20, (2, 11))
    mask = torch.ones(2, 11, dtype=torch.bool)
    mask[1, 5:] = False
    attn = enc.layers[0].attn
    with torch.no_grad():
        x = _layer_input(enc, tokens)
        q, k, v = attn.project(x)
        want = attn.out(merge_heads(_dense_kernel_attention(torch.relu(q) + 1e-3, torch.relu(k) + 1e-3, v, mask.float())))
        torch.testing.assert_close(attn(x, mask), want, rtol=1e-5, atol=1e-5)

    # FAVOR+ with many features approximates exact softmax attention.
    enc, _ = build("performer", kernel="softmax", nb_features=4096, redraw=False)
    attn = enc.layers[0].attn
    with torch.no_grad():
        x = _layer_input(enc, tokens) * 0.3
        q, k, v = attn.project(x)
        exact = torch.nn.functional.scaled_dot_product_attention(q, k, v, attn_mask=mask[:, None, None, :])
        approx = attn(x, mask)
        err = (approx - attn.out(merge_heads(exact))).abs().max()
    assert err < 0.05, f"FAVOR+ with 4096 features is off by {err}"


def test_performer_redraw_changes_features_in_training_only():
    enc, _ = build("performer", kernel="softmax", nb_features=8, redraw=True)
    tokens = torch.randint(1, 20, (1, 9))
    mask = torch.ones(1, 9, dtype=torch.bool)
    with torch.no_grad():
        assert torch.equal(enc(tokens, mask), enc(tokens, mask))  # eval: the fixed buffer
        attn = enc.layers[0].attn
        attn.train()
        assert not torch.equal(attn._projection(), attn.projection)


def test_linformer_projects_zeroed_padding():
    enc, cfg = build("linformer")
    attn = enc.layers[0].attn
    tokens = torch.randint(1, 20, (2, 10))
    mask = torch.ones(2, 10, dtype=torch.bool)
    mask[1, 6:] = False
    with torch.no_grad():
        x = _layer_input(enc, tokens)
        q, k, v = attn.project(x)
        keep = mask[:, None, :, None].float()
        e = attn.lr_kernel[:10]
        kp = (k * keep).transpose(-1, -2) @ e  # [B, H, Dh, r]
        vp = (v * keep).transpose(-1, -2) @ e
        w = torch.softmax(q @ kp / q.shape[-1] ** 0.5, dim=-1)
        from lra_torch.models.common import merge_heads

        want = attn.out(merge_heads(w @ vp.transpose(-1, -2)))
        torch.testing.assert_close(attn(x, mask), want, rtol=1e-5, atol=1e-5)
    assert attn.lr_kernel.shape == (48, cfg.low_rank_features) == (48, 16)


def test_synthesizer_random_ignoring_dot_product_uses_only_the_table():
    enc, _ = build("synthesizer", ignore_dot_product=True)
    attn = enc.layers[0].attn
    tokens = torch.randint(1, 20, (1, 6))
    mask = torch.ones(1, 6, dtype=torch.bool)
    with torch.no_grad():
        x = _layer_input(enc, tokens)
        _, _, v = attn.project(x)
        w = torch.softmax(attn.random_logits[:, :6, :6], dim=-1)[None]
        from lra_torch.models.common import merge_heads

        torch.testing.assert_close(attn(x, mask), attn.out(merge_heads(w @ v)), rtol=1e-5, atol=1e-5)


def test_reformer_with_one_chunk_is_shared_qk_attention_without_self():
    from lra_torch.models.common import merge_heads, split_heads

    enc, _ = build("reformer", chunk_len=64)  # the whole sequence fits in one chunk
    attn = enc.layers[0].attn
    tokens = torch.randint(1, 20, (2, 12))
    mask = torch.ones(2, 12, dtype=torch.bool)
    mask[0, 9:] = False
    with torch.no_grad():
        x = _layer_input(enc, tokens)
        q = split_heads(attn.query(x), attn.num_heads)
        v = split_heads(attn.value(x), attn.num_heads)
        k = q / q.norm(dim=-1, keepdim=True)
        logits = q @ k.transpose(-1, -2) / q.shape[-1] ** 0.5
        logits = logits.masked_fill(torch.eye(12, dtype=torch.bool), -1e5)
        logits = logits.masked_fill(~mask[:, None, None, :], -1e9)
        want = attn.out(merge_heads(torch.softmax(logits, -1) @ v))
        torch.testing.assert_close(attn(x, mask), want, rtol=1e-4, atol=1e-5)


def _forward_flops(name, length, **extra):
    enc, _ = build(name, max_length=length, **extra)
    tokens = torch.randint(1, 20, (1, length))
    mask = torch.ones(1, length, dtype=torch.bool)
    with FlopCounterMode(display=False) as counter, torch.no_grad():
        enc(tokens, mask)
    return counter.get_total_flops()


@pytest.mark.parametrize("name", ["linear_transformer", "performer", "linformer", "reformer"])
def test_cost_grows_linearly(name):
    ratio = _forward_flops(name, 1024) / _forward_flops(name, 256)
    assert ratio < 5.0, f"{name}: FLOPs grew {ratio:.1f}x from L to 4L (quadratic would be ~16x)"


def test_cards_declare_corrections_and_overrides():
    assert "1/sqrt(d)" in module("reformer").CARD.description
    assert module("performer").CARD.task_overrides["listops"] == {"model.kernel": "softmax", "model.nb_features": 2}
    for name in NAMES:
        card = module(name).CARD
        assert card.framework == "torch" and card.reference
        assert {"image", "pathfinder"} <= set(card.task_overrides)
