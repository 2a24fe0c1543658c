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

from .common import Encoder, ProjectedAttention


class LinearTransformerConfig(EncoderConfig):
    eps: float = 1e-6


def feature_map(x: torch.Tensor) -> torch.Tensor:
    return F.elu(x) + 1.0


class _EluPlusOne(torch.autograd.Function):
    """``elu(x) + 1`` whose backward reads its *output*: ``d/dx = 1`` for ``x > 0`` and
    ``exp(x) = phi`` otherwise, i.e. ``min(phi, 1)``. One fused pass instead of ``elu_backward``
    (several times slower on CPU), and the input need not be kept."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        phi = F.elu(x).add_(1.0)
        ctx.save_for_backward(phi)
        return phi

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # type: ignore[override]
        (phi,) = ctx.saved_tensors
        return grad * phi.clamp(max=1.0)


class LinearAttention(ProjectedAttention):
    def __init__(self, config: LinearTransformerConfig) -> None:
        super().__init__(config)
        self.eps = config.eps

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, d = x.shape
        h, dh = self.num_heads, self.head_dim
        # q, k, v stay in the projection's [B, L, H*Dh] layout (no head-major copies): per-head sums
        # go through views, and the output projection is folded into the key/value summary:
        #     out = sum_h (phi(q_h) KV_h / n_h) Wout_h^T + b = sum_h (phi(q_h) / n_h) (KV_h Wout_h^T) + b
        # with KV_h = phi(K_h)^T V_h [Dh, Dh] and n_h = phi(q_h) . sum_j phi(k_j) + eps: the same
        # products in another order, so phi(Q) KV is never formed per head.
        # three products, each contiguous: elementwise passes on strided slices of one fused
        # [L, 3 qkv] product (and its stacked gradient) cost more than the fusion saves
        q, k, v = (lin(x).view(b, length, h, dh) for lin in (self.query, self.key, self.value))
        phi_q = _EluPlusOne.apply(q)  # feature_map(q)
        phi_k = _EluPlusOne.apply(k)
        if not bool(mask.all()):  # padded keys contribute nothing (no pass over K without padding)
            phi_k = phi_k * mask[:, :, None, None].to(q.dtype)
        # (phi(K_h)^T V_h)^T = V_h^T phi(K_h): [B, H, Dh(v), Dh(k)]. In this order the gradient of
        # phi(K) comes back as V_h G_h, [B, H, L, Dh] with Dh fastest; phi(K)^T V_h gave it with L
        # fastest, and every elementwise pass of the backward then crossed strides (5-10x slower).
        kv_t = torch.matmul(v.permute(0, 2, 3, 1), phi_k.transpose(1, 2))
        norm = (phi_q * phi_k.sum(dim=1, keepdim=True)).sum(dim=-1, keepdim=True) + self.eps  # [B, L, H, 1]
        # KV_h Wout_h^T for every head, stacked: [B, H*Dh, D]
        kv_out = torch.einsum("bhed,che->bhdc", kv_t, self.out.weight.view(d, h, dh)).reshape(b, h * dh, d)
        # times the [B, L, H, 1] reciprocal: a cheaper backward than dividing a [B, L, H, Dh] product
        scaled = (phi_q * torch.reciprocal(norm)).reshape(b, length, h * dh)
        return torch.baddbmm(self.out.bias, scaled, kv_out)


def build(config: LinearTransformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: LinearAttention(config))


def flops(config: LinearTransformerConfig, batch: int, length: int) -> float:
    """Forward FLOPs as computed: projections, MLP, phi(K)^T V, the normaliser (elementwise products
    and sums, counted as one multiply-add per entry of phi(Q)) and KV_h Wout_h^T."""
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    dh = config.head_dim
    proj = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m)
    attn = 2 * length * qkv * dh + 2 * length * qkv + 2 * qkv * dh * d
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
