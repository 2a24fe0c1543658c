"""Performer in Flax (twin of ``lra_torch.models.performer``): FAVOR attention.

Kernels: ``relu`` (LRA's default "generalized": phi(x) = ReLU(x) + 0.001, no projection) and
``softmax`` (FAVOR+ positive orthogonal random features). The projection W [nb_features, Dh] is drawn
with NumPy from ``feature_seed + layer``, exactly as the torch twin, and is a trace-time constant in
eval; with ``redraw=True`` a training step draws a fresh orthogonal matrix from the "dropout" RNG
stream (as LRA's softmax mode redrew features).

    out_i = phi(q_i) . sum_j phi(k_j) v_j^T / (phi(q_i) . sum_j phi(k_j))

Fix over LRA: padded keys are excluded from both sums.
"""

from __future__ import annotations

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, ProjectedAttention, merge_heads


class PerformerConfig(EncoderConfig):
    kernel: Literal["relu", "softmax"] = "relu"
    nb_features: int = 256
    redraw: bool = True
    feature_seed: int = 0


def orthogonal_gaussian(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Blocks of orthogonal rows with chi-distributed norms (identical to the torch twin's draw)."""
    blocks = []
    for _ in range(-(-rows // cols)):
        q, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
        blocks.append(q.T)
    mat = np.concatenate(blocks, axis=0)[:rows]
    norms = np.linalg.norm(rng.standard_normal((rows, cols)), axis=1)
    return (norms[:, None] * mat).astype(np.float32)


def orthogonal_gaussian_jax(rows: int, cols: int, key: jax.Array) -> jax.Array:
    """The same construction with JAX randomness (for redrawing inside a jitted step)."""
    n_blocks = -(-rows // cols)
    k1, k2 = jax.random.split(key)
    gauss = jax.random.normal(k1, (n_blocks, cols, cols))
    q = jax.vmap(lambda g: jnp.linalg.qr(g)[0].T)(gauss).reshape(n_blocks * cols, cols)[:rows]
    norms = jnp.linalg.norm(jax.random.normal(k2, (rows, cols)), axis=1)
    return norms[:, None] * q


def draw_projection(config: PerformerConfig, layer: int) -> np.ndarray:
    return orthogonal_gaussian(config.nb_features, config.head_dim, np.random.default_rng(config.feature_seed + layer))


def softmax_features(x: jax.Array, w: jax.Array, key_mask: jax.Array | None = None, eps: float = 1e-6) -> jax.Array:
    """Positive random features of exp(q.k/sqrt(d)); queries use a per-position max, keys one max
    over the real keys of each sequence (so padding cannot shift it). x: [B, L, H, Dh]."""
    dh = x.shape[-1]
    x = x * dh**-0.25
    proj = jnp.einsum("blhd,md->blhm", x, w)
    sq = 0.5 * jnp.sum(x * x, axis=-1, keepdims=True)
    if key_mask is None:
        stab = jnp.max(proj, axis=-1, keepdims=True)
    else:
        real = key_mask[:, :, None, None]
        stab = jnp.max(jnp.where(real, proj, -jnp.inf), axis=(1, 3), keepdims=True)
    return (jnp.exp(proj - sq - jax.lax.stop_gradient(stab)) + eps) * w.shape[0] ** -0.5


class FavorAttention(ProjectedAttention):
    layer: int = 0

    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        c = self.config
        q, k, v = self.project(x)
        keep = mask[:, :, None, None].astype(q.dtype)
        if c.kernel == "softmax":
            if train and c.redraw:
                w = orthogonal_gaussian_jax(c.nb_features, self.head_dim, self.make_rng("dropout"))
            else:
                w = jnp.asarray(draw_projection(c, self.layer))
            w = w.astype(q.dtype)
            phi_q = softmax_features(q, w)
            phi_k = softmax_features(k, w, key_mask=mask)
        else:
            phi_q = jax.nn.relu(q) + 1e-3
            phi_k = jax.nn.relu(k) + 1e-3
        phi_k = phi_k * keep
        kv = jnp.einsum("blhm,blhe->bhme", phi_k, v)
        norm = jnp.einsum("blhm,bhm->blh", phi_q, phi_k.sum(axis=1))
        y = jnp.einsum("blhm,bhme->blhe", phi_q, kv) / jnp.maximum(norm[..., None], 1e-12)
        return self.out(merge_heads(y))


def build(config: PerformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda i: FavorAttention(config, layer=i))


def flops(config: PerformerConfig, batch: int, length: int) -> float:
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    feats = config.nb_features if config.kernel == "softmax" else config.head_dim
    proj = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m)
    attn = 2 * config.num_heads * length * feats * config.head_dim * 3
    if config.kernel == "softmax":
        attn += 2 * 2 * config.num_heads * length * feats * config.head_dim
    return float(batch * config.num_layers * (proj + attn))


CARD = ModelCard(
    name="performer",
    framework="jax",
    factory=build,
    config=PerformerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description=(
        "Performer (Flax): FAVOR attention, ReLU kernel by default (LRA's 'generalized'), softmax FAVOR+ "
        "with orthogonal random features as an option. Fix: padded keys excluded from the sums."
    ),
    reference="Choromanski et al., Rethinking Attention with Performers, ICLR 2021",
    task_overrides={
        "listops": {"model.kernel": "softmax", "model.nb_features": 2},
        "image": {"model.num_layers": 1, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.num_heads": 8},
        "pathfinder": {"model.num_layers": 4, "model.num_heads": 8, "model.d_model": 32, "model.qkv_dim": 16, "model.mlp_dim": 32, "model.dropout": 0.2},
    },
    flops=flops,
)
