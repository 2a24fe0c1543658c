"""Reformer (Kitaev et al., 2020): LSH attention with shared query/key.

Per head, with the shared projection q (keys are the L2-normalised queries):

1. hash: bucket = argmax([x R, -x R]) for random rotations R [Dh, n_hashes, n_buckets/2];
2. sort positions by (hash round, bucket, position) and cut the sorted sequence into chunks;
3. each chunk attends to itself and to the chunk before it (``n_chunks_before`` = 1);
   a position attends to itself only when nothing else is there (logit -1e5, as the method does);
4. un-sort; several hash rounds are combined with weights softmax(logsumexp) per round.

Cost is O(L log L) (the sort) plus O(L * chunk_len) attention.

LRA defaults: n_buckets 10, n_hashes 1, chunk_len 10; rotations drawn once from a fixed seed
(``rotation_seed + layer``, with NumPy so a twin in another framework draws the same matrix).

Corrections of the original (stated in the card): logits are scaled by 1/sqrt(Dh) and the output goes
through an output projection (LRA's had neither); padded keys are masked and padded positions are
sorted behind the real ones of their round, and chunks never look back across a hash round, so
padding cannot change what a real position attends to. Widths follow qkv_dim like every other
model (LRA forced them to d_model).
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .common import Encoder, merge_heads, split_heads

SELF_LOGIT = -1e5
MASKED_LOGIT = -1e9


class ReformerConfig(EncoderConfig):
    n_buckets: int = 10
    n_hashes: int = 1
    chunk_len: int = 10
    rotation_seed: int = 0


def draw_rotations(config: ReformerConfig, layer: int) -> np.ndarray:
    rng = np.random.default_rng(config.rotation_seed + layer)
    return rng.standard_normal((config.head_dim, config.n_hashes, config.n_buckets // 2)).astype(np.float32)


def _gather(x: torch.Tensor, index: torch.Tensor) -> torch.Tensor:
    """x [B, H, N, D] gathered along N by index [B, H, M]."""
    return torch.gather(x, 2, index[..., None].expand(*index.shape, x.shape[-1]))


class LSHAttention(nn.Module):
    def __init__(self, config: ReformerConfig, layer: int) -> None:
        super().__init__()
        if config.n_buckets % 2:
            raise ValueError("reformer: n_buckets must be even (hashing uses [xR, -xR])")
        d, qkv = config.d_model, config.qkv_dim
        self.num_heads = config.num_heads
        self.head_dim = config.head_dim
        self.n_buckets = config.n_buckets
        self.n_hashes = config.n_hashes
        self.chunk_len = config.chunk_len
        self.attention_dropout = config.attention_dropout
        self.query = nn.Linear(d, qkv, bias=False)  # shared query/key projection
        self.value = nn.Linear(d, qkv, bias=False)
        self.out = nn.Linear(qkv, d)
        for lin in (self.query, self.value, self.out):
            nn.init.xavier_uniform_(lin.weight)
        nn.init.zeros_(self.out.bias)
        self.register_buffer("rotations", torch.from_numpy(draw_rotations(config, layer)), persistent=True)

    def hash(self, q: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        """Bucket ids [B, H, n_hashes, L]; padded positions get bucket n_buckets (sorted last)."""
        rotated = torch.einsum("bhld,dnr->bhnlr", q, self.rotations.to(q.dtype))
        buckets = torch.cat([rotated, -rotated], dim=-1).argmax(dim=-1)
        return buckets.masked_fill(~mask[:, None, None, :], self.n_buckets)

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        b, length, _ = x.shape
        c, nh = self.chunk_len, self.n_hashes
        padded = math.ceil(length / c) * c
        if padded != length:  # internal padding to whole chunks; those keys are masked
            x = torch.nn.functional.pad(x, (0, 0, 0, padded - length))
            mask = torch.nn.functional.pad(mask, (0, padded - length), value=False)
        q = split_heads(self.query(x), self.num_heads)  # [B, H, Lp, Dh]
        v = split_heads(self.value(x), self.num_heads)
        h = q.shape[1]

        buckets = self.hash(q, mask)  # [B, H, nh, Lp]
        rounds = torch.arange(nh, device=x.device)[:, None]
        positions = torch.arange(padded, device=x.device)
        # One sort key per (round, bucket, position): unique, so the order is fully determined.
        key = (rounds * (self.n_buckets + 1) + buckets) * padded + positions
        order = key.reshape(b, h, nh * padded).argsort(dim=-1)  # sorted slot -> flat index
        undo = order.argsort(dim=-1)
        pos = order % padded  # original position of each sorted slot

        sq = _gather(q, pos)
        sk = sq / sq.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        sv = _gather(v, pos)
        valid = torch.gather(mask[:, None, :].expand(b, h, padded), 2, pos)

        n = nh * padded // c
        sq, sk, sv = (t.reshape(b, h, n, c, -1) for t in (sq, sk, sv))
        cpos, cvalid = pos.reshape(b, h, n, c), valid.reshape(b, h, n, c)
        # Look one chunk back, never across a hash round (each round is padded // c chunks).
        same_round = (torch.arange(n, device=x.device) % (padded // c)) != 0
        prev_valid = torch.roll(cvalid, 1, dims=2) & same_round[None, None, :, None]
        keys = torch.cat([sk, torch.roll(sk, 1, dims=2)], dim=3)
        vals = torch.cat([sv, torch.roll(sv, 1, dims=2)], dim=3)
        kpos = torch.cat([cpos, torch.roll(cpos, 1, dims=2)], dim=3)
        kvalid = torch.cat([cvalid, prev_valid], dim=3)

        logits = torch.einsum("bhncd,bhnkd->bhnck", sq, keys) * self.head_dim**-0.5
        logits = logits.masked_fill(cpos[..., :, None] == kpos[..., None, :], SELF_LOGIT)
        logits = logits.masked_fill(~kvalid[..., None, :], MASKED_LOGIT)
        lse = torch.logsumexp(logits, dim=-1, keepdim=True)
        probs = torch.exp(logits - lse)
        probs = torch.nn.functional.dropout(probs, self.attention_dropout, self.training)
        y = torch.einsum("bhnck,bhnkd->bhncd", probs, vals).reshape(b, h, nh * padded, -1)
        lse = lse.reshape(b, h, nh * padded, 1)

        y = _gather(y, undo).reshape(b, h, nh, padded, -1)
        lse = _gather(lse, undo).reshape(b, h, nh, padded, 1)
        weights = torch.softmax(lse, dim=2)  # combine hash rounds
        y = (y * weights).sum(dim=2)[:, :, :length]
        return self.out(merge_heads(y))


def build(config: ReformerConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda i: LSHAttention(config, i))


def flops(config: ReformerConfig, batch: int, length: int) -> float:
    d, qkv, m = config.d_model, config.qkv_dim, config.mlp_dim
    proj = 2 * length * (2 * d * qkv + qkv * d + 2 * d * m)
    attn = config.n_hashes * (2 * 2 * length * 2 * config.chunk_len * qkv + 2 * length * qkv * config.n_buckets // 2)
    return float(batch * config.num_layers * (proj + attn))


CARD = ModelCard(
    name="reformer",
    framework="torch",
    factory=build,
    config=ReformerConfig,
    capabilities=Capabilities(padding_mask=True, complexity="nlogn", bf16=True),
    description=(
        "Reformer: LSH attention with shared QK (10 buckets, 1 hash, chunks of 10). Fixes: 1/sqrt(d) "
        "scaling and an output projection; padding masked and sorted behind real tokens."
    ),
    reference="Kitaev et al., Reformer: The Efficient Transformer, ICLR 2020",
    task_overrides={
        "image": {"model.num_layers": 4, "model.d_model": 64, "model.qkv_dim": 32, "model.mlp_dim": 64, "model.num_heads": 8},
        "pathfinder": {"model.num_layers": 2, "model.num_heads": 8, "model.d_model": 64, "model.qkv_dim": 32, "model.mlp_dim": 64, "model.dropout": 0.2},
    },
    flops=flops,
)
