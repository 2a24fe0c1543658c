"""Performer (Choromanski et al., 2021): FAVOR+ attention through positive feature maps.

Two kernels, as LRA's implementation offers:

- ``relu`` (LRA's default ``generalized`` attention): phi(x) = ReLU(x) + 0.001, deterministic (no
  random projection), attention renormalised;
- ``softmax`` (FAVOR+): positive orthogonal random features approximating exp(q.k / sqrt(d)):
  phi(x) = exp(W x' - |x'|^2 / 2 - max) / sqrt(m) with x' = x / d**0.25, stabiliser 1e-6. LRA's ListOps
  config uses it with only 2 features.

    out_i = phi(q_i) . sum_j phi(k_j) v_j^T / (phi(q_i) . sum_j phi(k_j))

The random projection ``W`` [nb_features, Dh] is drawn with NumPy from ``feature_seed + layer`` (so a
twin in another framework draws the identical matrix) and kept as a buffer; with ``redraw=True`` a new
one is drawn from torch's RNG at every training step, as LRA's softmax mode did.

Correction of the original: padded keys are excluded from both sums (LRA's Performer ignored the mask).
"""

from __future__ import annotations

from typing import Literal

import numpy as np
import torch
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .blocks import project_heads
from .common import Encoder, ProjectedAttention, merge_heads


class PerformerConfig(EncoderConfig):
    kernel: Literal["relu", "softmax"] = "relu"
    nb_features: int = 256
    redraw: bool = True
    feature_seed: int = 0


def orthogonal_gaussian(rows: int, cols: int, rng: np.random.Generator) -> np.ndarray:
    """Blocks of orthogonal rows with chi-distributed norms (FAVOR+'s ``gaussian_orthogonal_random_matrix``)."""
    blocks = []
    for _ in range(-(-rows // cols)):
        q, _ = np.linalg.qr(rng.standard_normal((cols, cols)))
        blocks.append(q.T)
    mat = np.concatenate(blocks, axis=0)[:rows]
    norms = np.linalg.norm(rng.standard_normal((rows, cols)), axis=1)
    return (norms[:, None] * mat).astype(np.float32)


def draw_projection(config: PerformerConfig, layer: int) -> np.ndarray:
    return orthogonal_gaussian(config.nb_features, config.head_dim, np.random.default_rng(config.feature_seed + layer))


def softmax_features(
    x: torch.Tensor, w: torch.Tensor, key_mask: torch.Tensor | None = None, eps: float = 1e-6
) -> torch.Tensor:
    """Positive random features of exp(q.k/sqrt(d)); a max is subtracted for stability.

    Queries (``key_mask`` None) use a per-position max, which cancels in the renormalisation; keys use
    one max over the real keys of each sequence, so padding cannot shift it.
    """
    dh = x.shape[-1]
    x = x * dh**-0.25
    proj = torch.einsum("bhld,md->bhlm", x, w)
    sq = 0.5 * (x * x).sum(-1, keepdim=True)
    if key_mask is None:
        stab = proj.amax(dim=-1, keepdim=True)
    else:
        real = key_mask[:, None, :, None]
        stab = proj.masked_fill(~real, float("-inf")).amax(dim=(-1, -2), keepdim=True)
    return (torch.exp(proj - sq - stab.detach()) + eps) * w.shape[0] ** -0.5


class FavorAttention(ProjectedAttention):
    def __init__(self, config: PerformerConfig, layer: int) -> None:
        super().__init__(config)
        self.kernel = config.kernel
        self.redraw = config.redraw
        if config.kernel == "softmax":
            self.register_buffer("projection", torch.from_numpy(draw_projection(config, layer)), persistent=True)

    def _projection(self) -> torch.Tensor:
        if self.training and self.redraw:
            rows, cols = self.projection.shape
            seed = int(torch.randint(0, 2**31 - 1, (1,)).item())  # from torch's RNG: checkpointed, resumable
            return torch.from_numpy(orthogonal_gaussian(rows, cols, np.random.default_rng(seed))).to(self.projection)
        return self.projection

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = project_heads(self, x)  # [B, H, L, Dh], contiguous: the matmuls below copy nothing
        keep = mask[:, None, :, None].to(q.dtype)
        if self.kernel == "softmax":
            w = self._projection()
            phi_q = softmax_features(q, w)
            phi_k = softmax_features(k, w, key_mask=mask)
        else:
            phi_q = torch.relu(q) + 1e-3
            phi_k = torch.relu(k) + 1e-3
        phi_k = phi_k * keep  # padded keys leave both sums
        kv = torch.einsum("bhlm,bhle->bhme", phi_k, v)
        norm = torch.einsum("bhlm,bhm->bhl", phi_q, phi_k.sum(dim=2))
        y = torch.einsum("bhlm,bhme->bhle", phi_q, kv) / norm[..., None].clamp_min(1e-12)
        return self.out(merge_heads(y))


def build(config: PerformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda i: FavorAttention(config, i))


def flops(config: PerformerConfig, batch: int, length: int) -> float:
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    feats = config.nb_features if config.kernel == "softmax" else config.head_dim
    proj = 2 * length * (3 * d * qkv + qkv * d + 2 * d * m)
    attn = 2 * config.num_heads * length * feats * config.head_dim * 3
    if config.kernel == "softmax":
        attn += 2 * 2 * config.num_heads * length * feats * config.head_dim
    return float(batch * config.num_layers * (proj + attn))


CARD = ModelCard(
    name="performer",
    framework="torch",
    factory=build,
    config=PerformerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear", bf16=True),
    description=(
        "Performer: FAVOR attention, ReLU kernel by default (LRA's 'generalized'), softmax FAVOR+ with "
        "orthogonal random features as an option. Fix: padded keys excluded from the sums."
    ),
    reference="Choromanski et al., Rethinking Attention with Performers, ICLR 2021",
    task_overrides={
        # LRA's ListOps config: softmax FAVOR+ with 2 random features.
        "listops": {"model.kernel": "softmax", "model.nb_features": 2},
        "image": {"model.num_layers": 1, "model.d_model": 128, "model.qkv_dim": 64, "model.mlp_dim": 128, "model.num_heads": 8},
        "pathfinder": {"model.num_layers": 4, "model.num_heads": 8, "model.d_model": 32, "model.qkv_dim": 16, "model.mlp_dim": 32, "model.dropout": 0.2},
    },
    flops=flops,
)
