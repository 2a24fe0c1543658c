"""The parts every LRA encoder shares: embeddings, positions, the MLP and the pre-LN block.

Models differ only in their attention module. An attention module is an ``nn.Module`` with
``forward(x [B, L, D], mask bool [B, L]) -> [B, L, D]``; :class:`Encoder` wraps it in LRA's pre-LN
blocks. Parameter names here are the canonical names every framework exports
(``embed.weight``, ``pos_embed``, ``layers.<i>.norm1.weight`` ...).
"""

from __future__ import annotations

import math
from typing import Callable

import torch
import torch.nn.functional as F
from torch import nn

from lra_core import EncoderConfig, EncoderInputs


def sinusoidal_table(length: int, d_model: int) -> torch.Tensor:
    """LRA's fixed sinusoidal table (``common_layers.sinusoidal_init``): sin at even channels, cos at odd.

    Channel ``2i`` holds ``sin(pos / 10000**(2i/d))`` and ``2i+1`` the matching cosine, interleaved
    as LRA lays them out, so embeddings converted from LRA checkpoints line up with the table.
    Computed in float64, then cast.
    """
    position = torch.arange(length, dtype=torch.float64)[:, None]
    div = torch.exp(torch.arange(0, d_model, 2, dtype=torch.float64) * -(math.log(10000.0) / d_model))
    table = torch.zeros(length, d_model, dtype=torch.float64)
    table[:, 0::2] = torch.sin(position * div)
    table[:, 1::2] = torch.cos(position * div[: d_model // 2])  # odd d_model: one cosine fewer
    return table.float()


class Embeddings(nn.Module):
    """Token embedding (N(0, 1) init) plus sinusoidal or learned (N(0, 0.02)) positions, dropout."""

    def __init__(self, config: EncoderConfig, inputs: EncoderInputs) -> None:
        super().__init__()
        self.embed = nn.Embedding(inputs.vocab_size, config.d_model)
        nn.init.normal_(self.embed.weight, std=1.0)
        self.positional = config.positional
        if config.positional == "learned":
            self.pos_embed = nn.Parameter(torch.randn(inputs.max_length, config.d_model) * 0.02)
        elif config.positional == "sinusoidal":
            self.register_buffer("pos_table", sinusoidal_table(inputs.max_length, config.d_model), persistent=False)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, tokens: torch.Tensor) -> torch.Tensor:
        x = self.embed(tokens)
        length = tokens.shape[1]
        if self.positional == "learned":
            x = x + self.pos_embed[:length]
        elif self.positional == "sinusoidal":
            x = x + self.pos_table[:length].to(x.dtype)
        return self.dropout(x)


class FeedForward(nn.Module):
    """Dense(mlp_dim) -> GELU -> Dropout -> Dense(d_model) -> Dropout.

    GELU is the tanh approximation: LRA calls Flax's ``nn.gelu`` (``jax.nn.gelu``, approximate=True).
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        self.fc1 = nn.Linear(config.d_model, config.mlp_dim)
        self.fc2 = nn.Linear(config.mlp_dim, config.d_model)
        self.dropout = nn.Dropout(config.dropout)
        for lin in (self.fc1, self.fc2):
            nn.init.xavier_uniform_(lin.weight)
            nn.init.normal_(lin.bias, std=1e-6)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.dropout(self.fc2(self.dropout(F.gelu(self.fc1(x), approximate="tanh"))))


class EncoderBlock(nn.Module):
    """Pre-LayerNorm block: x + Drop(Attn(LN(x))), then x + MLP(LN(x))."""

    def __init__(self, config: EncoderConfig, attn: nn.Module) -> None:
        super().__init__()
        self.norm1 = nn.LayerNorm(config.d_model, eps=1e-6)
        self.attn = attn
        self.norm2 = nn.LayerNorm(config.d_model, eps=1e-6)
        self.mlp = FeedForward(config)
        self.dropout = nn.Dropout(config.dropout)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = x + self.dropout(self.attn(self.norm1(x), mask))
        return x + self.mlp(self.norm2(x))


class Encoder(nn.Module):
    """Embeddings, ``num_layers`` pre-LN blocks around ``make_attention(layer_index)``, final LN."""

    def __init__(
        self,
        config: EncoderConfig,
        inputs: EncoderInputs,
        make_attention: Callable[[int], nn.Module],
    ) -> None:
        super().__init__()
        self.config = config
        self.inputs = inputs
        self.embeddings = Embeddings(config, inputs)
        self.layers = nn.ModuleList(EncoderBlock(config, make_attention(i)) for i in range(config.num_layers))
        self.norm = nn.LayerNorm(config.d_model, eps=1e-6)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.embeddings(tokens)
        for layer in self.layers:
            x = layer(x, mask)
        return self.norm(x)


def split_heads(x: torch.Tensor, num_heads: int) -> torch.Tensor:
    """[B, L, H*Dh] -> [B, H, L, Dh]."""
    b, length, width = x.shape
    return x.view(b, length, num_heads, width // num_heads).transpose(1, 2)


def merge_heads(x: torch.Tensor) -> torch.Tensor:
    """[B, H, L, Dh] -> [B, L, H*Dh]."""
    b, h, length, dh = x.shape
    return x.transpose(1, 2).reshape(b, length, h * dh)


class ProjectedAttention(nn.Module):
    """Base for attention variants: q, k, v projections without bias and an output with bias.

    Xavier-uniform kernels as LRA's ``nn.SelfAttention``. Subclasses implement ``forward(x, mask)``
    and use :meth:`project` / ``self.out``; parameter names are ``query``, ``key``, ``value``, ``out``.
    """

    def __init__(self, config: EncoderConfig) -> None:
        super().__init__()
        d, qkv = config.d_model, config.qkv_dim
        self.num_heads = config.num_heads
        self.head_dim = config.qkv_dim // config.num_heads
        self.attention_dropout = config.attention_dropout
        self.query = nn.Linear(d, qkv, bias=False)
        self.key = nn.Linear(d, qkv, bias=False)
        self.value = nn.Linear(d, qkv, bias=False)
        self.out = nn.Linear(qkv, d)
        for lin in (self.query, self.key, self.value, self.out):
            nn.init.xavier_uniform_(lin.weight)
        nn.init.zeros_(self.out.bias)

    def project(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """q, k, v as [B, H, L, Dh]."""
        h = self.num_heads
        return split_heads(self.query(x), h), split_heads(self.key(x), h), split_heads(self.value(x), h)
