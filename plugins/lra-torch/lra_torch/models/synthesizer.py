"""Synthesizer (Tay et al., 2021): attention logits synthesised without (or beside) token-token dot products.

Modes (LRA's defaults: ``random`` added to the ordinary dot-product logits, "Random + vanilla"):

- ``random``: a learned logit table R [H, max_len, max_len];
- ``factorized_random``: R = R1 R2 with R1 [H, max_len, k], R2 [H, k, max_len];
- ``dense``: each token predicts its row of logits, ``Dense(d) -> ReLU -> Dense(max_len)`` per head.

    logits = R[:, :L, :L] (+ Q K^T / sqrt(d) unless ignore_dot_product);  out = softmax(logits) V

Padded keys are masked out of the softmax. The tables are tied to the task's max_length; cost is
quadratic in the length.
"""

from __future__ import annotations

from typing import Literal

import torch
import torch.nn.functional as F
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, ProjectedAttention, merge_heads


class SynthesizerConfig(EncoderConfig):
    synthesizer_mode: Literal["random", "factorized_random", "dense"] = "random"
    ignore_dot_product: bool = False
    k: int = 32


class SynthesizerAttention(ProjectedAttention):
    def __init__(self, config: SynthesizerConfig, max_length: int) -> None:
        super().__init__(config)
        self.mode = config.synthesizer_mode
        self.ignore_dot_product = config.ignore_dot_product
        self.max_length = max_length
        h = config.num_heads
        if self.mode == "random":
            self.random_logits = nn.Parameter(torch.randn(h, max_length, max_length) * 0.02)
        elif self.mode == "factorized_random":
            self.factor1 = nn.Parameter(torch.randn(h, max_length, config.k) * 0.02)
            self.factor2 = nn.Parameter(torch.randn(h, config.k, max_length) * 0.02)
        else:
            self.dense1 = nn.Linear(config.d_model, config.d_model)
            self.dense2 = nn.Linear(config.d_model, h * max_length)

    def synthetic_logits(self, x: torch.Tensor) -> torch.Tensor:
        """[B or 1, H, L, L] logits that do not come from query-key products."""
        length = x.shape[1]
        if self.mode == "random":
            return self.random_logits[None, :, :length, :length]
        if self.mode == "factorized_random":
            return torch.einsum("hik,hkj->hij", self.factor1[:, :length], self.factor2[:, :, :length])[None]
        b = x.shape[0]
        rows = self.dense2(torch.relu(self.dense1(x))).view(b, length, -1, self.max_length)
        return rows[..., :length].permute(0, 2, 1, 3)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        if length > self.max_length:
            raise ValueError(f"synthesizer: length {length} exceeds the logit table's max_length {self.max_length}")
        q, k, v = self.project(x)
        logits = self.synthetic_logits(x)
        if not self.ignore_dot_product:
            logits = logits + torch.einsum("bhid,bhjd->bhij", q, k) * self.head_dim**-0.5
        logits = logits.masked_fill(~mask[:, None, None, :], torch.finfo(logits.dtype).min)
        weights = F.dropout(torch.softmax(logits, dim=-1), self.attention_dropout, self.training)
        y = torch.einsum("bhij,bhjd->bhid", weights, v)
        return self.out(merge_heads(y))


def build(config: SynthesizerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: SynthesizerAttention(config, inputs.max_length))


def flops(config: SynthesizerConfig, batch: int, length: int) -> float:
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    proj = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m)
    attn = 2 * 2 * length * length * qkv
    return float(batch * config.num_layers * (proj + attn))


CARD = ModelCard(
    name="synthesizer",
    framework="torch",
    factory=build,
    config=SynthesizerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="quadratic", bf16=True),
    description="Synthesizer: learned (random / factorized / dense) attention logits, added to dot-product logits by default as LRA ran it.",
    reference="Tay et al., Synthesizer: Rethinking Self-Attention in Transformer Models, ICML 2021",
    task_overrides={
        "image": {"model.num_layers": 1, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.num_heads": 8, "model.synthesizer_mode": "random"},
        "pathfinder": {"model.num_layers": 2, "model.num_heads": 4, "model.d_model": 64, "model.qkv_dim": 32, "model.mlp_dim": 64, "model.dropout": 0.2, "model.synthesizer_mode": "random"},
    },
    flops=flops,
)
