"""The block-sparse / windowed PyTorch models: local, sparse_transformer, longformer, bigbird, sinkhorn.

Each efficient implementation is checked against a dense reference written here from the method's
definition (an L x L mask applied to full softmax attention), in float64 so agreement is exact up to
rounding; plus shapes at awkward lengths, padding invariance, bidirectionality and counted FLOPs.
"""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from torch.nn.attention import SDPBackend, sdpa_kernel
from torch.utils.flop_counter import FlopCounterMode

from lra_core import EncoderInputs
from lra_core.resolve import _TASK_KEYS  # the task-level override keys the resolver accepts
from lra_core.specs import TrainingSettings
from lra_torch.models import bigbird, local, longformer, sinkhorn, sparse_transformer
from lra_torch.models.common import merge_heads

MODULES = {
    "local": local,
    "sparse_transformer": sparse_transformer,
    "longformer": longformer,
    "bigbird": bigbird,
    "sinkhorn": sinkhorn,
}

# Small model-specific settings so that short test sequences span several blocks/windows.
SMALL = {
    "local": {"block_size": 8},
    "sparse_transformer": {"block_size": 8, "summary": 2},
    "longformer": {"window_size": 9, "global_tokens": 2},
    "bigbird": {"block_size": 4, "num_random_blocks": 2},
    "sinkhorn": {"block_size": 8},
}

LENGTHS = [1, 2, 3, 7, 8, 9, 17, 31, 64, 101]


def small_config(name: str, **extra):
    return MODULES[name].CARD.config(num_heads=2, qkv_dim=16, d_model=24, mlp_dim=32, **{**SMALL[name], **extra})


def encoder(name: str, max_length: int = 128, **extra) -> torch.nn.Module:
    torch.manual_seed(0)
    card = MODULES[name].CARD
    return card.factory(small_config(name, **extra), EncoderInputs(vocab_size=30, max_length=max_length)).eval()


def padded_batch(length: int, real: list[int], seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    tokens = torch.randint(1, 30, (len(real), length), generator=g)
    mask = torch.arange(length)[None, :] < torch.tensor(real)[:, None]
    return tokens, mask


# ---- dense references ---------------------------------------------------------------------------


def dense_attention(attn, x, mask, allowed, projections=None):
    """Full softmax attention restricted to ``allowed [H|1, L, L]`` and the key mask, before ``out``."""
    q, k, v = projections if projections is not None else attn.project(x)
    scores = q @ k.transpose(-1, -2) / math.sqrt(q.shape[-1])
    valid = allowed[None] & mask[:, None, None, :]
    weights = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=-1)
    return weights @ v  # [B, H, L, Dh]


def local_allowed(length: int, block: int) -> torch.Tensor:
    blk = torch.arange(length) // block
    return (blk[:, None] == blk[None, :])[None]


def sparse_allowed(length: int, block: int, c: int) -> torch.Tensor:
    j = torch.arange(length)
    same = (j[:, None] // block) == (j[None, :] // block)
    summary = (j % block == 0) | (j % block >= block - c)
    return (same | summary[None, :])[None]


def longformer_allowed(length: int, window: int, g: int) -> torch.Tensor:
    right = window // 2
    left = window - right - 1
    i = torch.arange(length)
    off = i[None, :] - i[:, None]
    return (((off >= -left) & (off <= right)) | (i[None, :] < g))[None]


def bigbird_allowed(length: int, block: int, grid: int, table: np.ndarray) -> torch.Tensor:
    heads = table.shape[0]
    n = math.ceil(length / block)
    m = torch.zeros(heads, n, n, dtype=torch.bool)
    for h in range(heads):
        for i in range(n):
            for j in range(n):
                m[h, i, j] = (
                    i in (0, grid - 1)
                    or j in (0, grid - 1)
                    or abs(i - j) <= 1
                    or j in table[h, i].tolist()
                )
    blk = torch.arange(length) // block
    return m[:, blk][:, :, blk]


def sinkhorn_reference(attn, x, mask):
    """Loops over examples, heads and blocks; softmax sort activation."""
    b = attn.block_size
    bsz, length, _ = x.shape
    n = math.ceil(length / b)
    pad = n * b - length
    q, k, v = (torch.nn.functional.pad(t, (0, 0, 0, pad)) for t in attn.project(x))
    m = torch.nn.functional.pad(mask, (0, pad), value=False)
    out = torch.zeros_like(q)
    scale = q.shape[-1] ** -0.5
    for e in range(bsz):
        mb = m[e].view(n, b)
        real = mb.any(dim=1)
        offset_ok = mb.any(dim=0)
        for h in range(q.shape[1]):
            kk = (k[e, h] * m[e, :, None]).view(n, b, -1)
            vv = (v[e, h] * m[e, :, None]).view(n, b, -1)
            qq = q[e, h].view(n, b, -1)
            logits = kk.sum(dim=1) @ attn.sort_net.weight.T
            p = torch.zeros(n, n, dtype=x.dtype)
            for src in range(n):
                if real[src]:
                    row = logits[src, :n].masked_fill(~real, float("-inf"))
                    p[src] = torch.softmax(row, dim=0)
            for blk in range(n):
                sk = sum(p[src, blk] * kk[src] for src in range(n))
                sv = sum(p[src, blk] * vv[src] for src in range(n))
                local_w = torch.softmax((qq[blk] @ kk[blk].T * scale).masked_fill(~mb[blk][None], float("-inf")), -1)
                sorted_w = torch.softmax((qq[blk] @ sk.T * scale).masked_fill(~offset_ok[None], float("-inf")), -1)
                out[e, h, blk * b : (blk + 1) * b] = local_w @ vv[blk] + sorted_w @ sv
    return out[:, :, :length]


def _attn_inputs(length: int, d: int = 24, seed: int = 1):
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(3, length, d, generator=g, dtype=torch.float64)
    real = [length, max(1, length - 3), max(1, length // 2)]
    mask = torch.arange(length)[None, :] < torch.tensor(real)[:, None]
    return x, mask


def _check_rows(actual: torch.Tensor, expected: torch.Tensor, mask: torch.Tensor) -> None:
    torch.testing.assert_close(actual[mask], expected[mask], rtol=1e-9, atol=1e-9)


@pytest.mark.parametrize("length", [1, 5, 8, 9, 23, 40, 64])
def test_local_equals_dense_block_mask(length: int) -> None:
    attn = local.LocalAttention(small_config("local")).double().eval()
    x, mask = _attn_inputs(length)
    expected = attn.out(merge_heads(dense_attention(attn, x, mask, local_allowed(length, min(8, length)))))
    _check_rows(attn(x, mask), expected, mask)


@pytest.mark.parametrize("length", [1, 5, 8, 9, 23, 40, 64])
def test_sparse_transformer_equals_dense_fixed_pattern(length: int) -> None:
    attn = sparse_transformer.SparseAttention(small_config("sparse_transformer")).double().eval()
    x, mask = _attn_inputs(length)
    expected = attn.out(merge_heads(dense_attention(attn, x, mask, sparse_allowed(length, 8, 2))))
    _check_rows(attn(x, mask), expected, mask)


@pytest.mark.parametrize("global_tokens", [0, 2])
@pytest.mark.parametrize("length", [1, 4, 9, 10, 23, 41, 80])
def test_longformer_equals_dense_window(length: int, global_tokens: int) -> None:
    attn = longformer.LongformerAttention(small_config("longformer", global_tokens=global_tokens)).double().eval()
    x, mask = _attn_inputs(length)
    y = dense_attention(attn, x, mask, longformer_allowed(length, 9, global_tokens))
    g = min(global_tokens, length)
    if g:
        h = attn.num_heads
        from lra_torch.models.common import split_heads

        proj = (split_heads(attn.query_global(x), h), split_heads(attn.key_global(x), h), split_heads(attn.value_global(x), h))
        yg = dense_attention(attn, x, mask, torch.ones(1, length, length, dtype=torch.bool), proj)
        y = torch.cat([yg[:, :, :g], y[:, :, g:]], dim=2)
    _check_rows(attn(x, mask), attn.out(merge_heads(y)), mask)


def test_longformer_takes_the_blocked_path_on_long_inputs() -> None:
    assert longformer.chunk_plan(80, 9) is not None  # the equality test above covers the blocked path
    assert longformer.chunk_plan(4096, 512) is not None
    assert longformer.chunk_plan(300, 512) is None  # the window covers everything: dense
    assert longformer.window_sides(512) == (255, 256)  # LRA's code: right side gets the extra key
    assert longformer.window_sides(5) == (2, 2)


@pytest.mark.parametrize("max_length", [None, 128])
@pytest.mark.parametrize("length", [1, 3, 4, 9, 16, 37, 64])
def test_bigbird_equals_dense_block_pattern(length: int, max_length: int | None) -> None:
    max_length = max_length or length  # None: the input fills the grid, so the last block is global
    attn = bigbird.BigBirdAttention(small_config("bigbird"), layer=1, max_length=max_length).double().eval()
    x, mask = _attn_inputs(length)
    grid = bigbird.grid_blocks(length, max_length, 4)
    table = bigbird.random_blocks(grid, 2, 2, 1)
    expected = attn.out(merge_heads(dense_attention(attn, x, mask, bigbird_allowed(length, 4, grid, table))))
    _check_rows(attn(x, mask), expected, mask)


def test_bigbird_random_blocks_follow_the_documented_recipe() -> None:
    grid, r, heads, layer = 12, 3, 2, 5
    table = bigbird.random_blocks(grid, r, heads, layer)
    rng = np.random.default_rng(layer)
    for h in range(heads):
        assert (table[h, 0] == -1).all() and (table[h, grid - 1] == -1).all()
        for i in range(1, grid - 1):
            cand = np.array([j for j in range(1, grid - 1) if abs(j - i) > 1])
            np.testing.assert_array_equal(table[h, i], rng.permutation(cand)[:r])
            assert len(set(table[h, i].tolist())) == r
    assert not np.array_equal(table, bigbird.random_blocks(grid, r, heads, layer + 1))
    # Layers of one encoder get different patterns (seeded by the layer index).
    enc = encoder("bigbird", num_layers=2)
    assert [blk.attn.layer for blk in enc.layers] == [0, 1]


def test_sinkhorn_equals_loop_reference() -> None:
    attn = sinkhorn.SinkhornAttention(small_config("sinkhorn"), max_length=128).double().eval()
    for length in (1, 7, 8, 21, 40):
        x, mask = _attn_inputs(length)
        expected = attn.out(merge_heads(sinkhorn_reference(attn, x, mask)))
        _check_rows(attn(x, mask), expected, mask)


def test_sinkhorn_iterations_approach_a_doubly_stochastic_matrix() -> None:
    logits = torch.randn(1, 1, 5, 5, dtype=torch.float64)
    real = torch.tensor([[True, True, True, True, False]])
    valid = real[:, None, :, None] & real[:, None, None, :]
    p = sinkhorn.sinkhorn_normalise(logits, valid, iterations=200, temperature=1.0)[0, 0]
    torch.testing.assert_close(p[:4, :4].sum(0), torch.ones(4, dtype=torch.float64))
    torch.testing.assert_close(p[:4, :4].sum(1), torch.ones(4, dtype=torch.float64))
    assert (p[4] == 0).all() and (p[:, 4] == 0).all()


def test_sinkhorn_rejects_too_many_blocks() -> None:
    enc = encoder("sinkhorn", max_length=16)  # 2 blocks of 8
    tokens, mask = padded_batch(17, [17])
    enc.embeddings.positional = "none"
    with pytest.raises(ValueError, match="max_num_blocks"):
        enc(tokens, mask)


# ---- encoder-level contract ---------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODULES))
def test_shapes_and_finite_for_awkward_lengths(name: str) -> None:
    enc = encoder(name)
    for length in LENGTHS:
        tokens, mask = padded_batch(length, [length, max(1, length // 3)])
        y = enc(tokens, mask)
        assert y.shape == (2, length, 24)
        assert torch.isfinite(y).all(), (name, length)


@pytest.mark.parametrize("extra", [{}, {"sort_activation": "sinkhorn", "sinkhorn_iterations": 3}])
@pytest.mark.parametrize("name", list(MODULES))
def test_padding_invariance(name: str, extra: dict) -> None:
    if extra and name != "sinkhorn":
        pytest.skip("sinkhorn-only setting")
    enc = encoder(name, num_layers=2, **extra)
    for real, length in ((13, 20), (30, 41), (5, 9)):
        tokens, mask = padded_batch(length, [real])
        base = enc(tokens, mask)[0, :real]
        changed = tokens.clone()
        changed[:, real:] = torch.randint(1, 30, (1, length - real))
        torch.testing.assert_close(enc(changed, mask)[0, :real], base, rtol=1e-5, atol=1e-5)
        longer = torch.cat([tokens, torch.randint(1, 30, (1, 37))], dim=1)
        longer_mask = torch.cat([mask, torch.zeros(1, 37, dtype=torch.bool)], dim=1)
        torch.testing.assert_close(enc(longer, longer_mask)[0, :real], base, rtol=1e-5, atol=1e-5)


@pytest.mark.parametrize(
    "name, later",
    [("local", 1), ("sparse_transformer", 16), ("longformer", 4), ("bigbird", 63), ("sinkhorn", 5)],
)
def test_bidirectional(name: str, later: int) -> None:
    # One layer: position 0 must read a later key the pattern gives it (for the Sparse Transformer
    # a summary position in another block, which LRA's causal mask hid).
    enc = encoder(name, num_layers=1, max_length=64)
    tokens, mask = padded_batch(64, [64])
    base = enc(tokens, mask)[0, 0]
    changed = tokens.clone()
    changed[0, later] = (tokens[0, later] % 29) + 1
    assert not torch.allclose(enc(changed, mask)[0, 0], base)


# ---- cost ---------------------------------------------------------------------------------------


def counted_flops(enc: torch.nn.Module, length: int) -> int:
    tokens, mask = padded_batch(length, [length])
    # As the torch backend counts: the math SDPA kernel decomposes into matmuls the counter sees
    # (sparse_transformer's summary keys go through SDPA; the fused CPU kernel is not counted).
    with FlopCounterMode(display=False) as counter, torch.no_grad(), sdpa_kernel([SDPBackend.MATH]):
        enc(tokens, mask)
    return counter.get_total_flops()


@pytest.mark.parametrize("name", list(MODULES))
@pytest.mark.parametrize("length", [9, 50, 200])
def test_card_flops_match_counted_flops(name: str, length: int) -> None:
    enc = encoder(name, max_length=length)
    card = MODULES[name].CARD
    expected = card.flops(small_config(name), 1, length)
    assert counted_flops(enc, length) == pytest.approx(expected, rel=1e-9)


@pytest.mark.parametrize("name", ["local", "longformer", "bigbird"])
def test_linear_models_grow_linearly(name: str) -> None:
    length = 256
    costs = [counted_flops(encoder(name, max_length=n), n) for n in (length, 4 * length)]
    assert MODULES[name].CARD.capabilities.complexity == "linear"
    assert costs[1] / costs[0] < 4.6, costs  # dense attention would be well above 10x here


def test_sparse_transformer_computes_a_fraction_of_dense() -> None:
    cfg = sparse_transformer.SparseTransformerConfig()  # LRA defaults: block 50, c = 10
    for length in (1024, 4096):
        n = math.ceil(length / 50)
        keys = 50 + len(sparse_transformer.summary_positions(length, 50, 10))
        assert keys < length / 3.5
        # local keys, then the summary keys plus one anchor key at width Dh + 1 (the fused kernel)
        attn = cfg.num_layers * 4.0 * n * 50 * (50 * cfg.qkv_dim + (keys - 50 + 1) * (cfg.qkv_dim + cfg.num_heads))
        dense = cfg.num_layers * 4.0 * length * length * cfg.qkv_dim
        total = sparse_transformer.flops(cfg, 1, length)
        assert total == pytest.approx(attn + cfg.num_layers * 2.0 * length * (4 * 32 * 32 + 2 * 32 * 64))
        assert attn < dense / 3.3  # the anchor column adds 1/Dh (1/16 here) to the summary work


def test_sinkhorn_quadratic_term_is_the_block_mixing() -> None:
    # Small blocks make the O(L^2 d / b) permutation product dominate: the card says quadratic.
    assert sinkhorn.CARD.capabilities.complexity == "quadratic"
    costs = [counted_flops(encoder("sinkhorn", max_length=n), n) for n in (256, 1024)]
    assert 6 < costs[1] / costs[0] < 16
    # At LRA's block size the mixing stays below the attention's cost up to L ~ 2 b^2.
    cfg = sinkhorn.SinkhornConfig()
    mixing = lambda n: 4.0 * math.ceil(n / 50) ** 2 * 50 * cfg.qkv_dim  # noqa: E731
    attention = lambda n: 8.0 * math.ceil(n / 50) * 50 * 50 * cfg.qkv_dim  # noqa: E731
    assert mixing(4096) < attention(4096) < mixing(8192)


def test_longformer_cost_far_below_dense_at_4k() -> None:
    cfg = longformer.LongformerConfig()
    chunk, n = longformer.chunk_plan(4096, 512)
    assert n * chunk * (chunk + 511) < 4096 * 4096 / 5
    assert longformer.flops(cfg, 1, 4096) < longformer.flops(cfg, 1, 1024) * 4.6


# ---- cards --------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", list(MODULES))
def test_card_overrides_resolve(name: str) -> None:
    card = MODULES[name].CARD
    assert card.id == f"torch/{name}"
    assert card.capabilities.padding_mask
    assert {"image@code", "pathfinder@code"} <= set(card.task_overrides)
    for task, overrides in card.task_overrides.items():
        model = {k.split(".", 1)[1]: v for k, v in overrides.items() if k.startswith("model.")}
        card.config.model_validate(model)  # each task's settings form a valid config together
        for key, value in overrides.items():
            head, _, rest = key.partition(".")
            if head == "training":
                assert rest in TrainingSettings.model_fields, key
            elif head != "model":
                assert key in _TASK_KEYS, key
                if key == "pooling":
                    assert value in ("cls", "mean")


def test_lra_defaults() -> None:
    assert local.LocalConfig().block_size == 50
    assert sparse_transformer.SparseTransformerConfig().block_size == 50
    assert sparse_transformer.SparseTransformerConfig().summary == 10
    assert longformer.LongformerConfig().window_size == 512
    assert (bigbird.BigBirdConfig().block_size, bigbird.BigBirdConfig().num_random_blocks) == (64, 3)
    assert sinkhorn.SinkhornConfig().block_size == 50
    assert sinkhorn.SinkhornConfig().sort_activation == "softmax"
    assert local.CARD.overrides_for("image", "code")["model.block_size"] == 64
    assert sinkhorn.CARD.overrides_for("image", "code")["training.weight_decay"] == 0.7
    with pytest.raises(ValueError):
        sparse_transformer.SparseTransformerConfig(block_size=8, summary=8)
    with pytest.raises(ValueError):
        local.LocalConfig(unknown=1)


def test_bf16_forward_runs() -> None:
    for name in MODULES:
        enc = encoder(name).to(torch.bfloat16)
        tokens, mask = padded_batch(37, [37, 20])
        y = enc(tokens, mask)
        assert y.dtype == torch.bfloat16 and torch.isfinite(y.float()).all(), name
