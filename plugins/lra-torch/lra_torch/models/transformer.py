"""The vanilla Transformer of LRA: full softmax attention, pre-LN blocks.

Attention goes through ``torch.nn.functional.scaled_dot_product_attention`` (fused kernels where the
device has them); padded keys are excluded through a boolean mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, ProjectedAttention, merge_heads


class SoftmaxAttention(ProjectedAttention):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.project(x)
        # [B, 1, 1, L]: True where the key is a real token.
        key_mask = mask[:, None, None, :]
        dropout = self.attention_dropout if self.training else 0.0
        y = F.scaled_dot_product_attention(q, k, v, attn_mask=key_mask, dropout_p=dropout)
        return self.out(merge_heads(y))


def build(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: SoftmaxAttention(config))


def flops(config: EncoderConfig, batch: int, length: int) -> float:
    """Analytic forward FLOPs (multiply-adds counted as 2) of the encoder."""
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    per_layer = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m) + 2 * 2 * length * length * qkv
    return float(batch * config.num_layers * per_layer)


CARD = ModelCard(
    name="transformer",
    framework="torch",
    factory=build,
    config=EncoderConfig,
    capabilities=Capabilities(padding_mask=True, complexity="quadratic", bf16=True),
    description="Vanilla Transformer encoder (full softmax attention), pre-LN as in LRA.",
    reference="Vaswani et al., Attention Is All You Need, NeurIPS 2017",
    flops=flops,
)
