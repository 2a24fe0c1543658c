"""Linear Transformer in Flax (twin of ``lra_torch.models.linear_transformer``).

    out_i = phi(q_i) . sum_j phi(k_j) v_j^T / (phi(q_i) . sum_j phi(k_j) + eps),  phi(x) = elu(x) + 1

Linear in the length. Padded keys are excluded from both sums (a fix over LRA, which ignored the
mask). No attention dropout, as in LRA.
"""

from __future__ import annotations

import flax.linen as nn
import jax
import jax.numpy as jnp

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, ProjectedAttention, merge_heads


class LinearTransformerConfig(EncoderConfig):
    eps: float = 1e-6


def feature_map(x: jax.Array) -> jax.Array:
    return jax.nn.elu(x) + 1.0


class LinearAttention(ProjectedAttention):
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        q, k, v = self.project(x)  # [B, L, H, Dh]
        keep = mask[:, :, None, None].astype(q.dtype)
        phi_q = feature_map(q)
        phi_k = feature_map(k) * keep  # padded keys contribute nothing
        kv = jnp.einsum("blhd,blhe->bhde", phi_k, v)
        norm = jnp.einsum("blhd,bhd->blh", phi_q, phi_k.sum(axis=1))
        y = jnp.einsum("blhd,bhde->blhe", phi_q, kv) / (norm[..., None] + self.config.eps)
        return self.out(merge_heads(y))


def build(config: LinearTransformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: LinearAttention(config))


def flops(config: LinearTransformerConfig, batch: int, length: int) -> float:
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    proj = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m)
    attn = 2 * 3 * length * qkv * config.head_dim
    return float(batch * config.num_layers * (proj + attn))


CARD = ModelCard(
    name="linear_transformer",
    framework="jax",
    factory=build,
    config=LinearTransformerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description="Linear Transformer (Flax): elu+1 kernel attention, linear in length. Fix: padded keys excluded from the sums.",
    reference="Katharopoulos et al., Transformers are RNNs, ICML 2020",
    task_overrides={
        "image": {"model.num_layers": 1, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.num_heads": 8},
        "pathfinder": {"model.num_layers": 1, "model.num_heads": 2, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.dropout": 0.2},
    },
    flops=flops,
)
