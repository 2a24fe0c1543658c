"""Linformer (Wang et al., 2020): keys and values projected along the length axis to k rows.

    K' = E^T K,  V' = E^T V,  out = softmax(Q K'^T / sqrt(d)) V'

with one learned matrix ``lr_kernel`` E [max_length, k] per layer, shared by keys and values (as LRA
and the paper's "shared K/V" variant). Cost is linear in the length for fixed k.

LRA fixes k = 16 (``low_rank_features`` is not passed through its encoder; the Text config's 32
never reached the model), so 16 is the default here.

Correction of the original: padded keys and values are zeroed before projecting, so padding never
mixes into the projected rows. The projection is tied to the task's max_length: longer inputs are
an error, shorter ones use E's first L rows.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, ProjectedAttention, merge_heads, split_heads


class LinformerConfig(EncoderConfig):
    low_rank_features: int = 16


class LinformerAttention(ProjectedAttention):
    def __init__(self, config: LinformerConfig, max_length: int) -> None:
        super().__init__(config)
        k = config.low_rank_features
        self.lr_kernel = nn.Parameter(torch.empty(max_length, k))
        bound = math.sqrt(6.0 / (max_length + k))  # xavier-uniform, as a Dense kernel
        nn.init.uniform_(self.lr_kernel, -bound, bound)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        length = x.shape[1]
        if length > self.lr_kernel.shape[0]:
            raise ValueError(f"linformer: length {length} exceeds the projection's max_length {self.lr_kernel.shape[0]}")
        h = self.num_heads
        q = split_heads(self.query(x), h)
        # E^T (K * keep) == (E * keep)^T K exactly (keep is 0/1): zeroing E's rows at padded
        # positions zeroes padded keys and values. Keys and values share E, so both are projected
        # by one [k, L] x [L, 2 qkv] product before the heads are split.
        e = self.lr_kernel[:length] * mask[:, :, None].to(x.dtype)  # [B, L, k]
        kv = F.linear(x, torch.cat([self.key.weight, self.value.weight], dim=0))  # [B, L, 2 qkv]
        k_proj, v_proj = (split_heads(t, h) for t in torch.matmul(e.transpose(1, 2), kv).chunk(2, dim=-1))
        # Explicit softmax attention over the k projected rows: with so few keys this is faster on
        # CPU than scaled_dot_product_attention's kernels, and FLOP counters see it. The 1/sqrt(Dh)
        # goes on the k projected keys, the smallest operand.
        scale = q.shape[-1] ** -0.5
        weights = torch.softmax(torch.matmul(q, (k_proj * scale).transpose(-1, -2)), dim=-1)
        weights = F.dropout(weights, self.attention_dropout, self.training)
        return self.out(merge_heads(torch.matmul(weights, v_proj)))


def build(config: LinformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: LinformerAttention(config, inputs.max_length))


def flops(config: LinformerConfig, batch: int, length: int) -> float:
    d, qkv, m, r = config.d_model, config.qkv_dim, config.mlp_dim, config.low_rank_features
    proj = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m)
    attn = 2 * 2 * length * r * qkv + 2 * 2 * length * r * qkv  # E^T K, E^T V, QK'^T, AV'
    return float(batch * config.num_layers * (proj + attn))


CARD = ModelCard(
    name="linformer",
    framework="torch",
    factory=build,
    config=LinformerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description="Linformer: length-axis projection of keys/values (k=16, shared K/V). Fix: padded keys/values zeroed before projecting.",
    reference="Wang et al., Linformer: Self-Attention with Linear Complexity, 2020",
    task_overrides={
        "image": {"model.num_layers": 1, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.num_heads": 8},
        "pathfinder": {"model.num_layers": 1, "model.num_heads": 2, "model.d_model": 32, "model.qkv_dim": 16, "model.mlp_dim": 32, "model.dropout": 0.2},
    },
    flops=flops,
)
