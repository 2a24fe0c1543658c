"""The vanilla Transformer of LRA in Flax: full softmax attention, pre-LN blocks (twin of torch's).

Attention goes through ``jax.nn.dot_product_attention`` with the key mask (its default, exact XLA
implementation on every device; JAX 0.10 selects cuDNN only when asked, and that path is not yet
validated here). That function has no attention dropout, so a training step with attention
dropout > 0 computes the same softmax explicitly and drops attention weights, as torch's SDPA does.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, ProjectedAttention, merge_heads


class SoftmaxAttention(ProjectedAttention):
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        q, k, v = self.project(x)  # [B, L, H, Dh]
        # [B, 1, 1, L]: True where the key is a real token (broadcast over heads and queries).
        key_mask = mask[:, None, None, :]
        if train and self.config.attention_dropout > 0.0:
            y = self._explicit(q, k, v, key_mask)
        else:
            y = jax.nn.dot_product_attention(q, k, v, mask=key_mask)
        return self.out(merge_heads(y))

    def _explicit(self, q: jax.Array, k: jax.Array, v: jax.Array, key_mask: jax.Array) -> jax.Array:
        scale = 1.0 / jnp.sqrt(jnp.asarray(q.shape[-1], jnp.float32)).astype(q.dtype)
        logits = jnp.einsum("bqhd,bkhd->bhqk", q * scale, k)
        logits = jnp.where(key_mask, logits, jnp.finfo(logits.dtype).min)
        weights = jax.nn.softmax(logits.astype(jnp.float32), axis=-1).astype(q.dtype)
        weights = self.attn_dropout(weights, deterministic=False)
        return jnp.einsum("bhqk,bkhd->bqhd", weights, v)


def build(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: SoftmaxAttention(config))


def flops(config: EncoderConfig, batch: int, length: int) -> float:
    """Analytic forward FLOPs (multiply-adds counted as 2) of the encoder."""
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    per_layer = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m) + 2 * 2 * length * length * qkv
    return float(batch * config.num_layers * per_layer)


CARD = ModelCard(
    name="transformer",
    framework="jax",
    factory=build,
    config=EncoderConfig,
    capabilities=Capabilities(padding_mask=True, complexity="quadratic", bf16=True),
    description="Vanilla Transformer encoder (full softmax attention), pre-LN as in LRA (Flax).",
    reference="Vaswani et al., Attention Is All You Need, NeurIPS 2017",
    flops=flops,
)
