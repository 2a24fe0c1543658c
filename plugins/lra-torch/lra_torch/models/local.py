"""Local attention: softmax attention inside non-overlapping, contiguous blocks.

The sequence is cut into blocks of ``block_size`` consecutive positions (block ``i`` holds positions
``i*block_size .. (i+1)*block_size - 1``); each query attends to the real keys of its own block
only. The length is padded to a multiple of the block size internally and the padded keys are
masked, so any length works; when ``L <= block_size`` there is a single block of length ``L``.
Cost: ``O(L * block_size)`` time and memory.

Correction of a known defect of the original LRA code (reference §10.7): LRA reshaped
``[B, L, ...]`` to ``[B, block_size, L/block_size, ...]`` and attended over axis 1, which groups
*strided* positions (every ``L/block_size``-th token) while the padding mask was cut into contiguous
chunks. Here blocks are contiguous, as the paper describes. LRA also appended a whole extra block
when ``L`` was already a multiple of the block size; that has no effect on outputs and is dropped.

LRA defaults: ``block_size=50``; the image configs (CIFAR-10, Pathfinder) use 64.

Parameters (canonical names under ``layers.<i>.attn.``): ``query``, ``key``, ``value`` (no bias)
and ``out`` - the same as the reference Transformer. A JAX twin must reproduce: contiguous blocks
from position 0, the block length ``min(block_size, L)``, keys masked by the padding mask.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .blocks import attend, attention_flops, dense_layer_flops, mask_blocks, num_blocks
from .common import Encoder, ProjectedAttention


class LocalConfig(EncoderConfig):
    block_size: int = Field(50, ge=1, description="tokens per non-overlapping attention block")


class LocalAttention(ProjectedAttention):
    def __init__(self, config: LocalConfig) -> None:
        super().__init__(config)
        self.block_size = config.block_size

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        block = min(self.block_size, length)
        n = num_blocks(length, block)
        h, dh = self.num_heads, self.head_dim
        # q, k, v stay in the projection's layout [B*n, block, 3, H, Dh]: each head's block
        # matrices are strided views that the batched matmuls read directly, so no head-major copy
        # is made, and 1/sqrt(Dh) is folded into the query weight (a power of two for Dh = 4^k).
        weight = torch.cat([self.query.weight * dh**-0.5, self.key.weight, self.value.weight])
        qkv = F.linear(x, weight)
        if n * block != length:  # zero rows: their keys are masked and their outputs dropped
            qkv = F.pad(qkv, (0, 0, 0, n * block - length))
        q, k, v = qkv.view(b * n, block, 3, h, dh).unbind(2)
        keys_ok = mask_blocks(mask, block).view(b * n, 1, block)
        heads = [attend(qh, kh, vh, keys_ok, self.attention_dropout, self.training, scaled=True)
                 for qh, kh, vh in zip(q.unbind(2), k.unbind(2), v.unbind(2))]  # [B*n, block, Dh] each
        y = torch.stack(heads, dim=2).view(b, n * block, h * dh)[:, :length]
        return self.out(y)


def build(config: LocalConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: LocalAttention(config))


def flops(config: LocalConfig, batch: int, length: int) -> float:
    """Analytic forward FLOPs: projections and MLP, plus ``block`` keys per (padded) query."""
    block = min(config.block_size, length)
    padded = num_blocks(length, block) * block
    per_layer = dense_layer_flops(config, length) + attention_flops(padded, block, config.qkv_dim)
    return float(batch * config.num_layers * per_layer)


CARD = ModelCard(
    name="local",
    framework="torch",
    factory=build,
    config=LocalConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description=(
        "Local attention: softmax attention within non-overlapping contiguous blocks (block_size 50; "
        "64 on image tasks). Corrects LRA's defect of grouping strided positions into a block."
    ),
    reference="Tay et al., Long Range Arena, ICLR 2021 (local attention baseline); Parmar et al., Image Transformer, ICML 2018",
    task_overrides={
        "image": {"model.block_size": 64},
        "image@code": {
            "model.num_layers": 1,
            "model.d_model": 128,
            "model.qkv_dim": 64,
            "model.mlp_dim": 128,
            "model.num_heads": 2,
            "pooling": "mean",
        },
        "pathfinder": {"model.block_size": 64},
        "pathfinder@code": {
            "model.num_layers": 2,
            "model.num_heads": 4,
            "model.d_model": 64,
            "model.qkv_dim": 32,
            "model.mlp_dim": 64,
            "model.dropout": 0.1,
        },
    },
    flops=flops,
)
