"""Synthesizer in Flax (twin of ``lra_torch.models.synthesizer``).

Synthetic attention logits (``random`` [H, max_len, max_len], ``factorized_random`` R1 R2, or ``dense``
per-token MLP rows), added to the dot-product logits unless ``ignore_dot_product`` (LRA ran
"Random + vanilla"). Padded keys are masked out of the softmax. Quadratic in the length.
"""

from __future__ import annotations

from typing import Literal

import flax.linen as nn
import jax
import jax.numpy as jnp

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, ProjectedAttention, merge_heads


class SynthesizerConfig(EncoderConfig):
    synthesizer_mode: Literal["random", "factorized_random", "dense"] = "random"
    ignore_dot_product: bool = False
    k: int = 32


class SynthesizerAttention(ProjectedAttention):
    max_length: int = 1

    def setup(self) -> None:
        super().setup()
        c, h, n = self.config, self.config.num_heads, self.max_length
        init = nn.initializers.normal(0.02)
        if c.synthesizer_mode == "random":
            self.random_logits = self.param("random_logits", init, (h, n, n))
        elif c.synthesizer_mode == "factorized_random":
            self.factor1 = self.param("factor1", init, (h, n, c.k))
            self.factor2 = self.param("factor2", init, (h, c.k, n))
        else:
            self.dense1 = nn.Dense(c.d_model)
            self.dense2 = nn.Dense(h * n)

    def synthetic_logits(self, x: jax.Array) -> jax.Array:
        """[B or 1, H, L, L] logits that do not come from query-key products."""
        length, mode = x.shape[1], self.config.synthesizer_mode
        if mode == "random":
            return self.random_logits[None, :, :length, :length]
        if mode == "factorized_random":
            return jnp.einsum("hik,hkj->hij", self.factor1[:, :length], self.factor2[:, :, :length])[None]
        b = x.shape[0]
        rows = self.dense2(jax.nn.relu(self.dense1(x))).reshape(b, length, -1, self.max_length)
        return rows[..., :length].transpose(0, 2, 1, 3)

    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        length = x.shape[1]
        if length > self.max_length:
            raise ValueError(f"synthesizer: length {length} exceeds the logit table's max_length {self.max_length}")
        q, k, v = self.project(x)
        logits = self.synthetic_logits(x).astype(q.dtype)
        if not self.config.ignore_dot_product:
            logits = logits + jnp.einsum("bihd,bjhd->bhij", q, k) * self.head_dim**-0.5
        logits = jnp.where(mask[:, None, None, :], logits, jnp.finfo(logits.dtype).min)
        weights = self.attn_dropout(jax.nn.softmax(logits, axis=-1), deterministic=not train)
        y = jnp.einsum("bhij,bjhd->bihd", weights, v)
        return self.out(merge_heads(y))


def build(config: SynthesizerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: SynthesizerAttention(config, max_length=inputs.max_length))


def flops(config: SynthesizerConfig, batch: int, length: int) -> float:
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    proj = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m)
    return float(batch * config.num_layers * (proj + 2 * 2 * length * length * qkv))


CARD = ModelCard(
    name="synthesizer",
    framework="jax",
    factory=build,
    config=SynthesizerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="quadratic", bf16=True),
    description="Synthesizer (Flax): learned (random / factorized / dense) attention logits, added to dot-product logits by default as LRA ran it.",
    reference="Tay et al., Synthesizer: Rethinking Self-Attention in Transformer Models, ICML 2021",
    task_overrides={
        "image": {"model.num_layers": 1, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.num_heads": 8, "model.synthesizer_mode": "random"},
        "pathfinder": {"model.num_layers": 2, "model.num_heads": 4, "model.d_model": 64, "model.qkv_dim": 32, "model.mlp_dim": 64, "model.dropout": 0.2, "model.synthesizer_mode": "random"},
    },
    flops=flops,
)
