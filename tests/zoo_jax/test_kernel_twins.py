"""The five non-block JAX models agree with their torch twins (same parameters, eval, fp32).

Parameters move through canonical names only (torch state_dict -> lra_jax.params.from_canonical), so
this also checks that every Flax twin names its parameters as the torch module does.
"""

from __future__ import annotations

import importlib

import jax
import jax.numpy as jnp
import numpy as np
import pytest
import torch

from lra_core import EncoderInputs
from lra_jax.params import from_canonical, to_canonical

VARIANTS = [
    ("linear_transformer", {}),
    ("performer", {}),
    ("performer", {"kernel": "softmax", "nb_features": 16}),
    ("linformer", {}),
    ("synthesizer", {}),
    ("synthesizer", {"synthesizer_mode": "factorized_random"}),
    ("synthesizer", {"synthesizer_mode": "dense", "ignore_dot_product": True}),
    ("reformer", {}),
    ("reformer", {"n_hashes": 2, "chunk_len": 4}),
]
INPUTS = EncoderInputs(vocab_size=23, max_length=40)


def _pair(name, extra, **dims):
    tcard = importlib.import_module(f"lra_torch.models.{name}").CARD
    jcard = importlib.import_module(f"lra_jax.models.{name}").CARD
    torch.manual_seed(0)
    tcfg = tcard.config(**dims, **extra)
    tmodel = tcard.factory(tcfg, INPUTS).eval()
    jmodel = jcard.factory(jcard.config(**dims, **extra), INPUTS)
    return tmodel, jmodel


def _batch(length=29):
    rng = np.random.default_rng(3)
    tokens = rng.integers(1, INPUTS.vocab_size, size=(3, length)).astype(np.int32)
    mask = np.ones((3, length), bool)
    mask[1, 17:] = False
    mask[2, 5:] = False
    return tokens, mask


@pytest.mark.parametrize("name, extra", VARIANTS, ids=[f"{n}-{e}" for n, e in VARIANTS])
def test_twin_outputs_agree_with_shared_parameters(name, extra):
    tmodel, jmodel = _pair(name, extra, d_model=32, qkv_dim=32, num_heads=4, num_layers=2, mlp_dim=48, positional="learned")
    tokens, mask = _batch()
    template = jmodel.init(jax.random.PRNGKey(0), jnp.asarray(tokens), jnp.asarray(mask), train=False)["params"]
    canonical = {k: v.detach().numpy() for k, v in tmodel.named_parameters()}
    assert set(to_canonical(template)) == set(canonical), "Flax twin's parameter names differ from torch's"
    params = from_canonical(canonical, template)
    with torch.no_grad():
        want = tmodel(torch.from_numpy(tokens).long(), torch.from_numpy(mask)).numpy()
    got = np.asarray(jmodel.apply({"params": params}, jnp.asarray(tokens), jnp.asarray(mask), train=False))
    assert got.shape == want.shape == (3, 29, 32)
    real = mask
    rel = np.abs(got[real] - want[real]).max() / np.abs(want[real]).max()
    assert rel < 1e-4, f"{name} {extra}: relative difference {rel:.2e}"


@pytest.mark.parametrize("name", ["linear_transformer", "performer", "linformer", "reformer"])
def test_jax_twin_is_linear_in_length_by_cost_analysis(name):
    jcard = importlib.import_module(f"lra_jax.models.{name}").CARD
    inputs = EncoderInputs(vocab_size=23, max_length=2048)
    model = jcard.factory(jcard.config(), inputs)

    def flops(length):
        tokens = jnp.ones((1, length), jnp.int32)
        mask = jnp.ones((1, length), bool)
        params = model.init(jax.random.PRNGKey(0), tokens, mask, train=False)
        compiled = jax.jit(lambda p, t, m: model.apply(p, t, m, train=False)).lower(params, tokens, mask).compile()
        cost = compiled.cost_analysis()
        cost = cost[0] if isinstance(cost, list) else cost
        return cost["flops"]

    ratio = flops(2048) / flops(512)
    assert ratio < 5.0, f"{name}: FLOPs grew {ratio:.1f}x from L to 4L"


def test_reformer_gradients_are_finite_when_length_needs_chunk_padding():
    # Internal zero padding to whole chunks once made the key normalisation's gradient NaN.
    jcard = importlib.import_module("lra_jax.models.reformer").CARD
    model = jcard.factory(jcard.config(), INPUTS)
    tokens = jnp.ones((1, 27), jnp.int32)  # 27 is not a multiple of chunk_len 10
    mask = jnp.ones((1, 27), bool)
    params = model.init(jax.random.PRNGKey(0), tokens, mask, train=False)
    grads = jax.grad(lambda p: jnp.sum(model.apply(p, tokens, mask, train=False) ** 2))(params)
    assert all(bool(jnp.all(jnp.isfinite(g))) for g in jax.tree_util.tree_leaves(grads))
