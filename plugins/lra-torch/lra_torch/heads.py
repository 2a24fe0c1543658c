"""The task heads the framework builds around an encoder: pooling, LRA's MLP classifier, two towers.

Parameter names are canonical: the classifier's layers are ``hidden`` and ``logits`` (exported as
``head.hidden.weight`` ...), the encoder sits under ``encoder``. Pair tasks run one shared encoder
over both documents (stacked along the batch, one forward) and classify ``[u, v, u*v, u-v]``.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F
from torch import nn

from lra_core import HeadSpec


def pool(x: torch.Tensor, mask: torch.Tensor, pooling: str) -> torch.Tensor:
    """``[B, L, D]`` -> ``[B, D]``: CLS takes position 0; mean averages the real (mask True) tokens."""
    if pooling == "cls":
        return x[:, 0]
    if pooling == "mean":
        weights = mask.unsqueeze(-1).to(x.dtype)
        # clamp: a row without real tokens pools to zeros instead of NaN.
        return (x * weights).sum(dim=1) / weights.sum(dim=1).clamp_min(1.0)
    raise ValueError(f"pooling must be 'cls' or 'mean', got {pooling!r}")


def pair_features(u: torch.Tensor, v: torch.Tensor) -> torch.Tensor:
    """The two-tower interaction features ``[u, v, u*v, u-v]`` (LRA paper, Retrieval)."""
    return torch.cat([u, v, u * v, u - v], dim=-1)


def _lecun_normal_(weight: torch.Tensor) -> None:
    """Flax ``Dense`` default kernel init: truncated normal (±2 sd) with variance 1/fan_in."""
    fan_in = weight.shape[1]
    # 0.8796...: std of a unit normal truncated to [-2, 2]; dividing keeps the variance 1/fan_in.
    std = math.sqrt(1.0 / fan_in) / 0.87962566103423978
    nn.init.trunc_normal_(weight, std=std, a=-2 * std, b=2 * std)


class MLPClassifier(nn.Module):
    """LRA's two-layer classifier: ``Dense(mlp_dim) -> ReLU -> Dense(num_classes)``."""

    def __init__(self, in_features: int, mlp_dim: int, num_classes: int) -> None:
        super().__init__()
        self.hidden = nn.Linear(in_features, mlp_dim)
        self.logits = nn.Linear(mlp_dim, num_classes)
        for lin in (self.hidden, self.logits):
            _lecun_normal_(lin.weight)
            nn.init.zeros_(lin.bias)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        return self.logits(F.relu(self.hidden(features)))


class Classifier(nn.Module):
    """Encoder + pooling + MLP head. Takes ``[B, L]`` (single) or ``[B, 2, L]`` (pair) inputs."""

    def __init__(self, encoder: nn.Module, spec: HeadSpec, d_model: int) -> None:
        super().__init__()
        self.encoder = encoder
        self.pooling = spec.pooling
        self.pair = spec.pair
        in_features = 4 * d_model if spec.pair else d_model
        self.head = MLPClassifier(in_features, spec.mlp_dim, spec.num_classes)

    def features(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """What the MLP sees: pooled encodings, or the pair features for two documents."""
        if not self.pair:
            return pool(self.encoder(tokens, mask), mask, self.pooling)
        b, two, length = tokens.shape
        # One shared encoder: both documents go through a single forward as a batch of 2B rows.
        flat_mask = mask.reshape(b * two, length)
        pooled = pool(self.encoder(tokens.reshape(b * two, length), flat_mask), flat_mask, self.pooling)
        pooled = pooled.view(b, two, -1)
        return pair_features(pooled[:, 0], pooled[:, 1])

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.head(self.features(tokens, mask))
