"""The five block-sparse JAX models agree with their torch twins (same parameters, eval, fp32).

Parameters move through canonical names only (torch state_dict -> lra_jax.params.from_canonical), so
this also checks that every Flax twin names its parameters as the torch module does. Lengths cover
one block, block-size multiples, off-block lengths, both Longformer paths (dense and chunked) and
BigBird with and without its last global grid block; batches carry padding. Each model is jitted
once and called per shape. Also: BigBird's random pattern is the torch one, the traced programs do
not grow with the length, and XLA's counted FLOPs grow as each card's complexity class says.
"""

from __future__ import annotations

import collections
import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from lra_core import EncoderInputs
from lra_jax.params import from_canonical, to_canonical

VARIANTS = [
    ("local", {"block_size": 8}),
    ("sparse_transformer", {"block_size": 8, "summary": 2}),
    ("longformer", {"window_size": 9, "global_tokens": 2}),
    ("longformer", {"window_size": 8}),
    ("bigbird", {"block_size": 4, "num_random_blocks": 2}),
    ("sinkhorn", {"block_size": 8}),
    ("sinkhorn", {"block_size": 4, "sort_activation": "sinkhorn", "sinkhorn_iterations": 3, "temperature": 0.7}),
]
INPUTS = EncoderInputs(vocab_size=23, max_length=40)
# 1: one block; 9: off-block, Longformer's dense path, BigBird short of its grid; 31: off-block,
# Longformer chunked; 40: max_length (BigBird's last grid block present, whole blocks everywhere).
LENGTHS = [1, 9, 31, 40]
DIMS = {"d_model": 24, "qkv_dim": 16, "num_heads": 2, "num_layers": 2, "mlp_dim": 32, "positional": "learned"}


def _pair(name: str, extra: dict):
    tcard = importlib.import_module(f"lra_torch.models.{name}").CARD
    jcard = importlib.import_module(f"lra_jax.models.{name}").CARD
    torch.manual_seed(0)
    tmodel = tcard.factory(tcard.config(**DIMS, **extra), INPUTS).eval()
    jmodel = jcard.factory(jcard.config(**DIMS, **extra), INPUTS)
    return tmodel, jmodel


def _batch(length: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(1, INPUTS.vocab_size, size=(3, length)).astype(np.int32)
    mask = np.ones((3, length), bool)
    mask[1, max(1, (2 * length) // 3) :] = False  # padded tail
    mask[2, min(length, 5) :] = False
    return tokens, mask


@pytest.mark.parametrize("name, extra", VARIANTS, ids=[f"{n}-{'-'.join(map(str, e.values()))}" for n, e in VARIANTS])
def test_twin_outputs_agree_with_shared_parameters(name: str, extra: dict) -> None:
    tmodel, jmodel = _pair(name, extra)
    tokens, mask = _batch(LENGTHS[-1], 0)
    # Only the tree's shapes are needed (every value comes from torch): no eager init.
    shapes = jax.eval_shape(lambda: jmodel.init(jax.random.PRNGKey(0), jnp.asarray(tokens), jnp.asarray(mask), train=False))
    template = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes["params"])
    canonical = {k: v.detach().numpy() for k, v in tmodel.named_parameters()}
    assert set(to_canonical(template)) == set(canonical), "Flax twin's parameter names differ from torch's"
    params = from_canonical(canonical, template)
    apply = jax.jit(lambda p, t, m: jmodel.apply({"params": p}, t, m, train=False))
    for i, length in enumerate(LENGTHS):
        tokens, mask = _batch(length, i)
        with torch.no_grad():
            want = tmodel(torch.from_numpy(tokens).long(), torch.from_numpy(mask)).numpy()
        got = np.asarray(apply(params, jnp.asarray(tokens), jnp.asarray(mask)))
        assert got.shape == want.shape == (3, length, DIMS["d_model"])
        assert np.isfinite(got).all()
        rel = np.abs(got[mask] - want[mask]).max() / np.abs(want[mask]).max()
        assert rel < 1e-4, f"{name} {extra} L={length}: relative difference {rel:.2e}"


def test_bigbird_pattern_is_the_torch_pattern() -> None:
    from lra_jax.models import bigbird as jb
    from lra_torch.models import bigbird as tb

    for grid, r, heads, layer in [(10, 2, 2, 0), (10, 3, 4, 1), (5, 3, 2, 3), (64, 3, 4, 2)]:
        table = jb.random_blocks(grid, r, heads, layer)
        np.testing.assert_array_equal(table, tb.random_blocks(grid, r, heads, layer))
        for n in sorted({1, 2, 3, grid - 1, grid}):
            got, want = jb.block_pattern(n, grid, table), tb.block_pattern(n, grid, table)
            assert got[0] == want[0] and got[1] == want[1], (grid, n)
            np.testing.assert_array_equal(got[2], want[2])
            np.testing.assert_array_equal(got[3], want[3])


def _primitives(jaxpr, counts: collections.Counter) -> collections.Counter:
    """Count every primitive of a jaxpr, nested sub-jaxprs (jit, custom_jvp ...) included."""
    for eqn in jaxpr.eqns:
        counts[eqn.primitive.name] += 1
        for param in eqn.params.values():
            for sub in param if isinstance(param, (list, tuple)) else [param]:
                inner = getattr(sub, "jaxpr", sub)
                if hasattr(inner, "eqns"):
                    _primitives(inner, counts)
    return counts


def _program(name: str, length: int) -> collections.Counter:
    jcard = importlib.import_module(f"lra_jax.models.{name}").CARD
    # The task's max_length is the input length, as LRA ran (BigBird's grid then ends at the input).
    model = jcard.factory(jcard.config(), EncoderInputs(vocab_size=23, max_length=length))
    tokens, mask = jnp.ones((1, length), jnp.int32), jnp.ones((1, length), bool)
    params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), tokens, mask, train=False))
    closed = jax.make_jaxpr(lambda p: model.apply(p, tokens, mask, train=False))(params)
    return _primitives(closed.jaxpr, collections.Counter())


@pytest.mark.parametrize("name", ["local", "sparse_transformer", "longformer", "bigbird", "sinkhorn"])
def test_traced_program_does_not_grow_with_length(name: str) -> None:
    # Two lengths off every default block grid (50, 64, Longformer's 128-token chunks), so every
    # model takes the same path at both: the program must be the same, only the shapes differ.
    assert _program(name, 1030) == _program(name, 2030)


def _counted_flops(name: str, length: int, **extra) -> float:
    jcard = importlib.import_module(f"lra_jax.models.{name}").CARD
    model = jcard.factory(jcard.config(**extra), EncoderInputs(vocab_size=23, max_length=length))
    tokens, mask = jnp.ones((1, length), jnp.int32), jnp.ones((1, length), bool)
    params = jax.eval_shape(lambda: model.init(jax.random.PRNGKey(0), tokens, mask, train=False))  # shapes only
    compiled = jax.jit(lambda p, t, m: model.apply(p, t, m, train=False)).lower(params, tokens, mask).compile()
    cost = compiled.cost_analysis()
    cost = cost[0] if isinstance(cost, list) else cost
    return float(cost["flops"])


@pytest.mark.parametrize("name", ["local", "longformer", "bigbird"])
def test_linear_models_flops_grow_linearly(name: str) -> None:
    extra = {"window_size": 64} if name == "longformer" else {}
    ratio = _counted_flops(name, 2048, **extra) / _counted_flops(name, 512, **extra)
    assert ratio < 5.0, f"{name}: FLOPs grew {ratio:.1f}x from L to 4L"


def test_sparse_transformer_computes_a_fraction_of_dense() -> None:
    sparse = _counted_flops("sparse_transformer", 2048, d_model=64, qkv_dim=64, mlp_dim=64)
    dense = _counted_flops("transformer", 2048, d_model=64, qkv_dim=64, mlp_dim=64)
    assert sparse < 0.4 * dense, f"sparse {sparse:.3g} vs dense {dense:.3g} FLOPs"
