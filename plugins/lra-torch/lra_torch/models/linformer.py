"""Linformer (Wang et al., 2020): keys and values projected along the length axis to k rows.

    K' = E^T K,  V' = E^T V,  out = softmax(Q K'^T / sqrt(d)) V'

with one learned matrix ``lr_kernel`` E [max_length, k] per layer, shared by keys and values (as LRA
and the paper's "shared K/V" variant). Cost is linear in the length for fixed k.

LRA fixes k = 16 (``low_rank_features`` is not passed through its encoder; the Text config's 32
never reached the model), so 16 is the default here.

Correction of the original: padded keys and values are zeroed before projecting, so padding never
mixes into the projected rows. The projection is tied to the task's max_length: longer inputs are
an error, shorter ones use E's first L rows.

Evaluation order: the products are associated so that everything that touches all L positions has
``k`` or ``H*k`` columns (Q, K, V are never formed; see ``LinformerAttention.forward``). That is
the cheaper order while ``H*k <= qkv_dim`` (LRA's k = 16 with 4-8 heads); a much larger k would be
faster in the textbook order.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, ProjectedAttention


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
        b, length, d = x.shape
        if length > self.lr_kernel.shape[0]:
            raise ValueError(f"linformer: length {length} exceeds the projection's max_length {self.lr_kernel.shape[0]}")
        h, dh, r = self.num_heads, self.head_dim, self.lr_kernel.shape[1]
        # The attention below is exactly
        #     K' = E^T (X Wk^T),  V' = E^T (X Wv^T),  y_h = softmax(Q_h K'_h^T / sqrt(dh)) V'_h,
        #     out = sum_h y_h Wout_h^T + b_out      (Q_h = X Wq_h^T, Wout_h: the columns of head h)
        # evaluated in the cheapest order (matrix products are associative; only the rounding
        # differs). With r = 16 projected rows, every product that touches all L positions has r or
        # H*r = 64 columns instead of qkv = 256, so Q, K, V and the per-head outputs are never built:
        #     K' = (E^T X) Wk^T                      [r, D] x [D, qkv]
        #     Q_h K'_h^T = X (K'_h Wq_h)^T           [L, D] x [D, H*r] for all heads at once
        #     y_h Wout_h^T = P_h (V'_h Wout_h^T)     [L, H*r] x [H*r, D] for all heads at once
        # E^T (K * keep) == (E * keep)^T K exactly (keep is 0/1): zeroing E's rows at padded
        # positions zeroes padded keys and values before they are projected.
        e = self.lr_kernel[:length] * mask[:, :, None].to(x.dtype)  # [B, L, r]
        xe = torch.matmul(e.transpose(1, 2), x)  # E^T X: [B, r, D]
        kv = F.linear(xe, torch.cat([self.key.weight, self.value.weight], dim=0))  # [K' | V']: [B, r, 2 qkv]
        k_proj, v_proj = kv.view(b, r, 2, h, dh).unbind(2)  # [B, r, H, dh] each
        scale = dh**-0.5  # on the r projected keys, the smallest operand
        # K'_h Wq_h for every head: [B, H, r, D]; then the scores for all heads in one product
        kq = torch.einsum("brhe,hed->bhrd", k_proj * scale, self.query.weight.view(h, dh, d))
        scores = torch.matmul(x, kq.reshape(b, h * r, d).transpose(1, 2))  # [B, L, H*r]
        weights = torch.softmax(scores.view(b, length, h, r), dim=-1)
        weights = F.dropout(weights, self.attention_dropout, self.training)
        # V'_h Wout_h^T for every head: [B, H, r, D]; then all heads' outputs summed in one product
        vo = torch.einsum("brhe,dhe->bhrd", v_proj, self.out.weight.view(d, h, dh))
        return torch.baddbmm(self.out.bias, weights.reshape(b, length, h * r), vo.reshape(b, h * r, d))


def build(config: LinformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: LinformerAttention(config, inputs.max_length))


def flops(config: LinformerConfig, batch: int, length: int) -> float:
    """Forward FLOPs as computed (see ``LinformerAttention.forward``): the MLP, plus products with
    ``r`` or ``H*r`` columns over the length (E^T X, the scores, the output) and ``r``-row products."""
    d, qkv, m, r, h = config.d_model, config.qkv_dim, config.mlp_dim, config.low_rank_features, config.num_heads
    mlp = 2 * length * 2 * d * m
    attn = 2 * length * r * d * (1 + 2 * h)  # E^T X, X (K'Wq)^T, P (V'Wout^T)
    attn += 2 * 4 * r * qkv * d  # (E^T X)[Wk; Wv]^T, K'_h Wq_h, V'_h Wout_h^T
    return float(batch * config.num_layers * (mlp + attn))


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
