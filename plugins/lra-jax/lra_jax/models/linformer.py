"""Linformer in Flax (twin of ``lra_torch.models.linformer``).

    K' = E^T K,  V' = E^T V,  out = softmax(Q K'^T / sqrt(d)) V'

One learned ``lr_kernel`` E [max_length, k] per layer, shared by keys and values; k = 16 as LRA ran it.
Fix over LRA: padded keys and values are zeroed before projecting.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, ProjectedAttention, merge_heads, xavier_uniform


class LinformerConfig(EncoderConfig):
    low_rank_features: int = 16


class LinformerAttention(ProjectedAttention):
    max_length: int = 1

    def setup(self) -> None:
        super().setup()
        self.lr_kernel = self.param("lr_kernel", xavier_uniform, (self.max_length, self.config.low_rank_features))

    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        length = x.shape[1]
        if length > self.max_length:
            raise ValueError(f"linformer: length {length} exceeds the projection's max_length {self.max_length}")
        q, k, v = self.project(x)  # [B, L, H, Dh]
        keep = mask[:, :, None, None].astype(q.dtype)
        e = self.lr_kernel[:length].astype(q.dtype)
        k_proj = jnp.einsum("blhd,lr->brhd", k * keep, e)
        v_proj = jnp.einsum("blhd,lr->brhd", v * keep, e)
        logits = jnp.einsum("bqhd,brhd->bhqr", q, k_proj) * self.head_dim**-0.5
        weights = jax.nn.softmax(logits, axis=-1)
        weights = self.attn_dropout(weights, deterministic=not train)
        y = jnp.einsum("bhqr,brhd->bqhd", weights, v_proj)
        return self.out(merge_heads(y))


def build(config: LinformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: LinformerAttention(config, max_length=inputs.max_length))


def flops(config: LinformerConfig, batch: int, length: int) -> float:
    d, qkv, m, r = config.d_model, config.qkv_dim, config.mlp_dim, config.low_rank_features
    proj = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m)
    attn = 2 * 2 * length * r * qkv + 2 * 2 * length * r * qkv
    return float(batch * config.num_layers * (proj + attn))


CARD = ModelCard(
    name="linformer",
    framework="jax",
    factory=build,
    config=LinformerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description="Linformer (Flax): length-axis projection of keys/values (k=16, shared K/V). Fix: padded keys/values zeroed before projecting.",
    reference="Wang et al., Linformer: Self-Attention with Linear Complexity, 2020",
    task_overrides={
        "image": {"model.num_layers": 1, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.num_heads": 8},
        "pathfinder": {"model.num_layers": 1, "model.num_heads": 2, "model.d_model": 32, "model.qkv_dim": 16, "model.mlp_dim": 32, "model.dropout": 0.2},
    },
    flops=flops,
)
