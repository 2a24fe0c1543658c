"""Local attention in Flax (twin of ``lra_torch.models.local``): softmax inside contiguous blocks.

The sequence is cut into blocks of ``block_size`` consecutive positions (block ``i`` holds positions
``i*block_size .. (i+1)*block_size - 1``); each query attends to the real keys of its own block only.
The length is padded to a multiple of the block size and padded keys are masked, so any length
works; when ``L <= block_size`` there is a single block of length ``L``. Cost ``O(L * block_size)``.

Correction of a known defect of the original LRA code (reference §10.7), as the torch twin: LRA
grouped *strided* positions into a block; here blocks are contiguous, as the paper describes.

LRA defaults: ``block_size=50``; the image configs (CIFAR-10, Pathfinder) use 64.
Parameters (canonical ``layers.<i>.attn.``): ``query``, ``key``, ``value``, ``out``.
"""

from __future__ import annotations

import flax.linen as nn
import jax
from pydantic import Field

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .blocks import attend, attention_flops, dense_layer_flops, from_blocks, mask_blocks, num_blocks, to_blocks
from .common import Encoder, ProjectedAttention, merge_heads


class LocalConfig(EncoderConfig):
    block_size: int = Field(50, ge=1, description="tokens per non-overlapping attention block")


class LocalAttention(ProjectedAttention):
    config: LocalConfig

    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        length = x.shape[1]
        block = min(self.config.block_size, length)
        q, k, v = (to_blocks(t, block) for t in self.project(x))  # [B, H, n, block, Dh]
        keys_ok = mask_blocks(mask, block)[:, None, :, None, :]  # [B, 1, n, 1, block]
        y = attend(q, k, v, keys_ok, lambda w: self.attn_dropout(w, deterministic=not train))
        return self.out(merge_heads(from_blocks(y, length)))


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
    framework="jax",
    factory=build,
    config=LocalConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description=(
        "Local attention (Flax): softmax attention within non-overlapping contiguous blocks (block_size 50; "
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
