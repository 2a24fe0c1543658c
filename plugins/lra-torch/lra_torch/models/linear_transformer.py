"""Linear Transformer (Katharopoulos et al., 2020): kernelised attention with phi(x) = elu(x) + 1.

    out_i = phi(q_i) . sum_j phi(k_j) v_j^T  /  (phi(q_i) . sum_j phi(k_j) + eps)

Cost is linear in the length: the key/value summary ``phi(K)^T V`` is [Dh, Dh] per head.

Correction of the original: padded keys are excluded from both sums (their features are zeroed), so
padding cannot leak into real positions. As in LRA there is no attention dropout (the method has no
attention matrix to drop from); eps = 1e-6 in the normaliser as LRA.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .blocks import project_heads
from .common import Encoder, ProjectedAttention, merge_heads


class LinearTransformerConfig(EncoderConfig):
    eps: float = 1e-6


def feature_map(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0


class LinearAttention(ProjectedAttention):
    def __init__(self, config: LinearTransformerConfig) -> None:
        super().__init__(config)
        self.eps = config.eps

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = project_heads(self, x)  # [B, H, L, Dh], contiguous: the matmuls below copy nothing
        keep = mask[:, None, :, None].to(q.dtype)
        # feature_map, with the +1 and the key mask applied in place (elu's backward reads its input)
        phi_q = F.elu(q).add_(1.0)
        phi_k = F.elu(k).add_(1.0).mul_(keep)  # padded keys contribute nothing
        kv = torch.matmul(phi_k.transpose(-1, -2), v)  # [B, H, Dh, Dh]
        norm = torch.matmul(phi_q, phi_k.sum(dim=2, keepdim=True).transpose(-1, -2))  # [B, H, L, 1]
        # times the [B, H, L, 1] reciprocal: a cheaper backward than dividing the [B, H, L, Dh] product
        y = torch.matmul(phi_q, kv) * torch.reciprocal(norm + self.eps)
        return self.out(merge_heads(y))


def build(config: LinearTransformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: LinearAttention(config))


def flops(config: LinearTransformerConfig, batch: int, length: int) -> float:
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    dh = config.head_dim
    proj = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m)
    attn = 2 * 3 * length * qkv * dh  # phi(K)^T V, phi(Q) (KV), normaliser
    return float(batch * config.num_layers * (proj + attn))


CARD = ModelCard(
    name="linear_transformer",
    framework="torch",
    factory=build,
    config=LinearTransformerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description="Linear Transformer: elu+1 kernel attention, linear in length. Fix: padded keys excluded from the sums.",
    reference="Katharopoulos et al., Transformers are RNNs, ICML 2020",
    task_overrides={
        "image": {"model.num_layers": 1, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.num_heads": 8},
        "pathfinder": {"model.num_layers": 1, "model.num_heads": 2, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.dropout": 0.2},
    },
    flops=flops,
)
