"""Reformer in Flax (twin of ``lra_torch.models.reformer``): LSH attention with shared query/key.

Hash by argmax([xR, -xR]) with rotations drawn by NumPy from ``rotation_seed + layer`` (identical to
the torch twin), sort by (round, bucket, position) with padded positions behind the real ones, attend
within chunks and one chunk back (never across a hash round), mask self-attention to -1e5, un-sort and
combine rounds by softmax(logsumexp). Vectorised: sort + gather, no Python loops over chunks.

Fixes over LRA (as the torch twin): 1/sqrt(Dh) scaling, an output projection, padding masked.
"""

from __future__ import annotations

import math

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, xavier_uniform

SELF_LOGIT = -1e5
MASKED_LOGIT = -1e9


class ReformerConfig(EncoderConfig):
    n_buckets: int = 10
    n_hashes: int = 1
    chunk_len: int = 10
    rotation_seed: int = 0


def draw_rotations(config: ReformerConfig, layer: int) -> np.ndarray:
    rng = np.random.default_rng(config.rotation_seed + layer)
    return rng.standard_normal((config.head_dim, config.n_hashes, config.n_buckets // 2)).astype(np.float32)


def _gather(x: jax.Array, index: jax.Array) -> jax.Array:
    """x [B, H, N, D] gathered along N by index [B, H, M]."""
    return jnp.take_along_axis(x, index[..., None], axis=2)


class LSHAttention(nn.Module):
    config: ReformerConfig
    layer: int = 0

    def setup(self) -> None:
        c = self.config
        if c.n_buckets % 2:
            raise ValueError("reformer: n_buckets must be even (hashing uses [xR, -xR])")
        self.query = nn.Dense(c.qkv_dim, use_bias=False, kernel_init=xavier_uniform)
        self.value = nn.Dense(c.qkv_dim, use_bias=False, kernel_init=xavier_uniform)
        self.out = nn.Dense(c.d_model, kernel_init=xavier_uniform, bias_init=nn.initializers.zeros)
        self.attn_dropout = nn.Dropout(c.attention_dropout)

    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        c = self.config
        b, length, _ = x.shape
        cl, nh, nb, h = c.chunk_len, c.n_hashes, c.n_buckets, c.num_heads
        padded = math.ceil(length / cl) * cl
        if padded != length:
            x = jnp.pad(x, ((0, 0), (0, padded - length), (0, 0)))
            mask = jnp.pad(mask, ((0, 0), (0, padded - length)), constant_values=False)
        q = self.query(x).reshape(b, padded, h, -1).transpose(0, 2, 1, 3)  # [B, H, Lp, Dh]
        v = self.value(x).reshape(b, padded, h, -1).transpose(0, 2, 1, 3)
        dh = q.shape[-1]

        rot = jnp.asarray(draw_rotations(c, self.layer), dtype=q.dtype)
        rotated = jnp.einsum("bhld,dnr->bhnlr", q, rot)
        buckets = jnp.argmax(jnp.concatenate([rotated, -rotated], axis=-1), axis=-1)
        buckets = jnp.where(mask[:, None, None, :], buckets, nb)  # padding sorts last in its round
        rounds = jnp.arange(nh)[:, None]
        positions = jnp.arange(padded)
        key = (rounds * (nb + 1) + buckets) * padded + positions
        order = jnp.argsort(key.reshape(b, h, nh * padded), axis=-1)
        undo = jnp.argsort(order, axis=-1)
        pos = order % padded

        sq = _gather(q, pos)
        # sqrt(max(|q|^2, 1e-12)) = max(|q|, 1e-6), with a finite gradient at the zero padding rows.
        sk = sq / jnp.sqrt(jnp.maximum(jnp.sum(sq * sq, axis=-1, keepdims=True), 1e-12))
        sv = _gather(v, pos)
        valid = jnp.take_along_axis(jnp.broadcast_to(mask[:, None, :], (b, h, padded)), pos, axis=2)

        n = nh * padded // cl
        sq, sk, sv = (t.reshape(b, h, n, cl, -1) for t in (sq, sk, sv))
        cpos, cvalid = pos.reshape(b, h, n, cl), valid.reshape(b, h, n, cl)
        same_round = (jnp.arange(n) % (padded // cl)) != 0
        prev_valid = jnp.roll(cvalid, 1, axis=2) & same_round[None, None, :, None]
        keys = jnp.concatenate([sk, jnp.roll(sk, 1, axis=2)], axis=3)
        vals = jnp.concatenate([sv, jnp.roll(sv, 1, axis=2)], axis=3)
        kpos = jnp.concatenate([cpos, jnp.roll(cpos, 1, axis=2)], axis=3)
        kvalid = jnp.concatenate([cvalid, prev_valid], axis=3)

        logits = jnp.einsum("bhncd,bhnkd->bhnck", sq, keys) * dh**-0.5
        logits = jnp.where(cpos[..., :, None] == kpos[..., None, :], SELF_LOGIT, logits)
        logits = jnp.where(kvalid[..., None, :], logits, MASKED_LOGIT)
        lse = jax.nn.logsumexp(logits, axis=-1, keepdims=True)
        probs = self.attn_dropout(jnp.exp(logits - lse), deterministic=not train)
        y = jnp.einsum("bhnck,bhnkd->bhncd", probs, vals).reshape(b, h, nh * padded, -1)
        lse = lse.reshape(b, h, nh * padded, 1)

        y = _gather(y, undo).reshape(b, h, nh, padded, -1)
        lse = _gather(lse, undo).reshape(b, h, nh, padded, 1)
        y = (y * jax.nn.softmax(lse, axis=2)).sum(axis=2)[:, :, :length]
        return self.out(y.transpose(0, 2, 1, 3).reshape(b, length, -1))


def build(config: ReformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda i: LSHAttention(config, layer=i))


def flops(config: ReformerConfig, batch: int, length: int) -> float:
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    proj = 2 * length * (2 * d * qkv + qkv * d + 2 * d * m)
    attn = config.n_hashes * (2 * 2 * length * 2 * config.chunk_len * qkv + 2 * length * qkv * config.n_buckets // 2)
    return float(batch * config.num_layers * (proj + attn))


CARD = ModelCard(
    name="reformer",
    framework="jax",
    factory=build,
    config=ReformerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="nlogn", bf16=True),
    description=(
        "Reformer (Flax): LSH attention with shared QK (10 buckets, 1 hash, chunks of 10). Fixes: 1/sqrt(d) "
        "scaling and an output projection; padding masked and sorted behind real tokens."
    ),
    reference="Kitaev et al., Reformer: The Efficient Transformer, ICLR 2020",
    task_overrides={
        "image": {"model.num_layers": 4, "model.d_model": 64, "model.qkv_dim": 32, "model.mlp_dim": 64, "model.num_heads": 8},
        "pathfinder": {"model.num_layers": 2, "model.num_heads": 8, "model.d_model": 64, "model.qkv_dim": 32, "model.mlp_dim": 64, "model.dropout": 0.2},
    },
    flops=flops,
)
