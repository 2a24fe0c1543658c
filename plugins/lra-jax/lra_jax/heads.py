"""LRA's task heads in Flax, twins of ``lra_torch.heads``, and the classifier around an encoder.

- pooling from the mask: ``cls`` takes position 0 (the CLS token the data layer prepends), ``mean``
  averages the real positions only;
- the two-layer MLP classifier: Dense(mlp_dim) ``hidden`` -> ReLU -> Dense(num_classes) ``logits``;
- pair tasks: one shared encoder over both inputs, features ``[u, v, u*v, u-v]``, the same MLP.

Parameter names (``head.hidden.weight`` ...) match the torch heads through
:mod:`lra_jax.params`.
"""

from __future__ import annotations

from typing import Any

import flax.linen as nn
import jax
import jax.numpy as jnp

from lra_core import HeadSpec


def pool(x: jax.Array, mask: jax.Array, pooling: str) -> jax.Array:
    """[B, L, D] -> [B, D] by CLS (position 0) or the mean over real positions."""
    if pooling == "cls":
        return x[:, 0]
    if pooling == "mean":
        m = mask.astype(x.dtype)[..., None]
        count = jnp.maximum(m.sum(axis=1), 1.0)
        return (x * m).sum(axis=1) / count
    raise ValueError(f"unknown pooling {pooling!r}; use 'cls' or 'mean'")


class ClassifierHead(nn.Module):
    """Pooled features -> Dense(mlp_dim) -> ReLU -> Dense(num_classes)."""

    spec: HeadSpec

    def setup(self) -> None:
        self.hidden = nn.Dense(self.spec.mlp_dim)
        self.logits = nn.Dense(self.spec.num_classes)

    def __call__(self, encoded: jax.Array, mask: jax.Array) -> jax.Array:
        """Single: ``encoded [B, L, D]``, ``mask [B, L]``. Pair: ``[B, 2, L, D]`` and ``[B, 2, L]``."""
        if self.spec.pair:
            u = pool(encoded[:, 0], mask[:, 0], self.spec.pooling)
            v = pool(encoded[:, 1], mask[:, 1], self.spec.pooling)
            features = jnp.concatenate([u, v, u * v, u - v], axis=-1)
        else:
            features = pool(encoded, mask, self.spec.pooling)
        return self.logits(nn.relu(self.hidden(features)))


class Model(nn.Module):
    """A card's encoder with an optional head. Params ``{"encoder": ..., "head": ...}``."""

    encoder: nn.Module
    head: ClassifierHead | None = None

    def encode(self, tokens: jax.Array, mask: jax.Array, train: bool = False) -> jax.Array:
        return self.encoder(tokens, mask, train=train)

    def __call__(self, tokens: jax.Array, mask: jax.Array, train: bool = False) -> Any:
        """Logits ``[B, num_classes]``; without a head, the encoder outputs."""
        if self.head is None:
            return self.encode(tokens, mask, train)
        if self.head.spec.pair:
            # The shared encoder runs once over both towers stacked along the batch.
            b, two, length = tokens.shape
            enc = self.encode(tokens.reshape(b * two, length), mask.reshape(b * two, length), train)
            enc = enc.reshape(b, two, length, enc.shape[-1])
        else:
            enc = self.encode(tokens, mask, train)
        return self.head(enc, mask)
