"""The parts every LRA encoder shares, in Flax linen: embeddings, positions, the MLP, the pre-LN block.

Twins of ``lra_torch.models.common``. Models differ only in their attention module: a linen module
with ``__call__(x [B, L, D], mask bool [B, L], train: bool) -> [B, L, D]``; :class:`Encoder` wraps
it in LRA's pre-LN blocks. Module and parameter names are chosen so that
:func:`lra_jax.params.to_canonical` yields the torch reference's ``state_dict`` names
(``embeddings.embed.weight``, ``embeddings.pos_embed``, ``layers.<i>.norm1.weight`` ...).
Dropout draws from the ``"dropout"`` RNG collection when ``train`` is True.
"""

from __future__ import annotations

import math
from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lra_core import EncoderConfig, EncoderInputs

#: LayerNorm epsilon of the torch reference (``nn.LayerNorm(eps=1e-6)``), as LRA's Flax code.
LN_EPS = 1e-6

xavier_uniform = nn.initializers.xavier_uniform()


def sinusoidal_table(length: int, d_model: int) -> np.ndarray:
    """LRA's fixed sinusoidal table (``common_layers.sinusoidal_init``): sin at even channels, cos at odd.

    Channel ``2i`` holds ``sin(pos / 10000**(2i/d))`` and ``2i+1`` the matching cosine, as the
    torch twin; computed in float64 then cast, so both frameworks add the same table.
    """
    position = np.arange(length, dtype=np.float64)[:, None]
    div = np.exp(np.arange(0, d_model, 2, dtype=np.float64) * -(math.log(10000.0) / d_model))
    table = np.zeros((length, d_model), dtype=np.float64)
    table[:, 0::2] = np.sin(position * div)
    table[:, 1::2] = np.cos(position * div[: d_model // 2])  # odd d_model: one cosine fewer
    return table.astype(np.float32)


def gelu(x: jax.Array) -> jax.Array:
    """The tanh-approximate GELU LRA uses (Flax ``nn.gelu``), as the torch twin (``approximate="tanh"``)."""
    return jax.nn.gelu(x, approximate=True)


class Embeddings(nn.Module):
    """Token embedding (N(0, 1) init) plus sinusoidal or learned (N(0, 0.02)) positions, dropout."""

    config: EncoderConfig
    inputs: EncoderInputs

    def setup(self) -> None:
        c = self.config
        self.embed = nn.Embed(self.inputs.vocab_size, c.d_model, embedding_init=nn.initializers.normal(1.0))
        if c.positional == "learned":
            self.pos_embed = self.param(
                "pos_embed", nn.initializers.normal(0.02), (self.inputs.max_length, c.d_model)
            )
        self.dropout = nn.Dropout(c.dropout)

    def __call__(self, tokens: jax.Array, *, train: bool = False) -> jax.Array:
        x = self.embed(tokens)
        length = tokens.shape[1]
        if self.config.positional == "learned":
            x = x + self.pos_embed[:length].astype(x.dtype)
        elif self.config.positional == "sinusoidal":
            # A trace-time constant, like torch's non-persistent buffer: not a parameter.
            table = sinusoidal_table(self.inputs.max_length, self.config.d_model)[:length]
            x = x + jnp.asarray(table, dtype=x.dtype)
        return self.dropout(x, deterministic=not train)


class FeedForward(nn.Module):
    """Dense(mlp_dim) -> GELU -> Dropout -> Dense(d_model) -> Dropout."""

    config: EncoderConfig

    def setup(self) -> None:
        c = self.config
        bias_init = nn.initializers.normal(1e-6)
        self.fc1 = nn.Dense(c.mlp_dim, kernel_init=xavier_uniform, bias_init=bias_init)
        self.fc2 = nn.Dense(c.d_model, kernel_init=xavier_uniform, bias_init=bias_init)
        self.dropout = nn.Dropout(c.dropout)

    def __call__(self, x: jax.Array, *, train: bool = False) -> jax.Array:
        h = self.dropout(gelu(self.fc1(x)), deterministic=not train)
        return self.dropout(self.fc2(h), deterministic=not train)


class EncoderBlock(nn.Module):
    """Pre-LayerNorm block: x + Drop(Attn(LN(x))), then x + MLP(LN(x))."""

    config: EncoderConfig
    make_attention: Callable[[int], nn.Module]
    index: int = 0

    def setup(self) -> None:
        c = self.config
        self.norm1 = nn.LayerNorm(epsilon=LN_EPS, use_fast_variance=False)
        # Created here so that it is named "attn" inside this block.
        self.attn = self.make_attention(self.index)
        self.norm2 = nn.LayerNorm(epsilon=LN_EPS, use_fast_variance=False)
        self.mlp = FeedForward(c)
        self.dropout = nn.Dropout(c.dropout)

    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        x = x + self.dropout(self.attn(self.norm1(x), mask, train=train), deterministic=not train)
        return x + self.mlp(self.norm2(x), train=train)


class Encoder(nn.Module):
    """Embeddings, ``num_layers`` pre-LN blocks around ``make_attention(layer_index)``, final LN."""

    config: EncoderConfig
    inputs: EncoderInputs
    make_attention: Callable[[int], nn.Module]

    def setup(self) -> None:
        self.embeddings = Embeddings(self.config, self.inputs)
        # A list attribute: Flax names the items layers_0, layers_1 ... (canonical layers.<i>).
        self.layers = [
            EncoderBlock(self.config, self.make_attention, index=i) for i in range(self.config.num_layers)
        ]
        self.norm = nn.LayerNorm(epsilon=LN_EPS, use_fast_variance=False)

    def __call__(self, tokens: jax.Array, mask: jax.Array, train: bool = False) -> jax.Array:
        x = self.embeddings(tokens, train=train)
        for layer in self.layers:
            x = layer(x, mask, train=train)
        return self.norm(x)


def split_heads(x: jax.Array, num_heads: int) -> jax.Array:
    """[B, L, H*Dh] -> [B, L, H, Dh] (the layout ``jax.nn.dot_product_attention`` takes)."""
    b, length, width = x.shape
    return x.reshape(b, length, num_heads, width // num_heads)


def merge_heads(x: jax.Array) -> jax.Array:
    """[B, L, H, Dh] -> [B, L, H*Dh]."""
    b, length, h, dh = x.shape
    return x.reshape(b, length, h * dh)


class ProjectedAttention(nn.Module):
    """Base for attention variants: q, k, v projections without bias and an output with bias.

    Xavier-uniform kernels as LRA's ``nn.SelfAttention``, zero output bias. Subclasses implement
    ``__call__(x, mask, train=...)`` and use :meth:`project` / ``self.out``; parameter names are
    ``query``, ``key``, ``value``, ``out`` (as the torch twin).
    """

    config: EncoderConfig

    def setup(self) -> None:
        c = self.config
        self.query = nn.Dense(c.qkv_dim, use_bias=False, kernel_init=xavier_uniform)
        self.key = nn.Dense(c.qkv_dim, use_bias=False, kernel_init=xavier_uniform)
        self.value = nn.Dense(c.qkv_dim, use_bias=False, kernel_init=xavier_uniform)
        self.out = nn.Dense(c.d_model, kernel_init=xavier_uniform, bias_init=nn.initializers.zeros)
        self.attn_dropout = nn.Dropout(c.attention_dropout)

    @property
    def num_heads(self) -> int:
        return self.config.num_heads

    @property
    def head_dim(self) -> int:
        return self.config.qkv_dim // self.config.num_heads

    def project(self, x: jax.Array) -> tuple[jax.Array, jax.Array, jax.Array]:
        """q, k, v as [B, L, H, Dh]."""
        h = self.num_heads
        return split_heads(self.query(x), h), split_heads(self.key(x), h), split_heads(self.value(x), h)

    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> Any:
        raise NotImplementedError("attention variants implement __call__(x, mask, train=...)")
