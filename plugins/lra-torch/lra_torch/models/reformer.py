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
import torch.nn.functional as F
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard

from .blocks import masks_anything
from .common import Encoder

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
        c, nh, h, dh = self.chunk_len, self.n_hashes, self.num_heads, self.head_dim
        padded = math.ceil(length / c) * c
        if padded != length:  # internal padding to whole chunks; those keys are masked
            x = F.pad(x, (0, 0, 0, padded - length))
            mask = F.pad(mask, (0, padded - length), value=False)
        # q and v in one matmul, laid out so that row (batch, position, head) holds that head's
        # [q | v]: sorting is then one row gather, and un-sorting one row scatter straight into
        # the [B, L, H * Dh] layout of the output projection (no head transposes).
        weight = torch.cat([self.query.weight.view(h, dh, -1), self.value.weight.view(h, dh, -1)], dim=1)
        qv = F.linear(x, weight.flatten(0, 1)).view(b * padded * h, 2 * dh)
        q = qv.view(b, padded, h, 2 * dh)[..., :dh].transpose(1, 2)  # [B, H, Lp, Dh] view

        buckets = self.hash(q, mask)  # [B, H, nh, Lp]
        rounds = torch.arange(nh, device=x.device)[:, None]
        positions = torch.arange(padded, device=x.device)
        # One sort key per (round, bucket, position): unique, so the order is fully determined.
        key = (rounds * (self.n_buckets + 1) + buckets) * padded + positions
        order = key.reshape(b, h, nh * padded).argsort(dim=-1)  # sorted slot -> (round, position)
        pos = order % padded
        batch = torch.arange(b, device=x.device)[:, None, None]
        head = torch.arange(h, device=x.device)[None, :, None]
        sqv = qv.index_select(0, ((batch * padded + pos) * h + head).flatten()).view(b, h, nh * padded, 2 * dh)
        sq, sv = sqv[..., :dh], sqv[..., dh:]
        sk = sq / sq.norm(dim=-1, keepdim=True).clamp_min(1e-6)
        valid = torch.gather(mask[:, None, :].expand(b, h, padded), 2, pos)

        n, per_round = nh * padded // c, padded // c
        sq, sk, sv = (t.reshape(b, h, n, c, dh) for t in (sq, sk, sv))
        # Look one chunk back, never across a hash round (chunk 0 of each round has no look-back).
        keys = torch.cat([sk, torch.roll(sk, 1, dims=2)], dim=3)
        vals = torch.cat([sv, torch.roll(sv, 1, dims=2)], dim=3)
        logits = torch.matmul(sq * dh**-0.5, keys.transpose(-1, -2))  # [B, H, n, c, 2c]
        # A position meets itself only on the diagonal of its own chunk (positions are unique
        # within a round, and the look-back stays in the round).
        logits[..., :c].diagonal(dim1=-2, dim2=-1).fill_(SELF_LOGIT)
        if not masks_anything(valid):  # no padding: only each round's first chunk loses its look-back
            logits[:, :, ::per_round, :, c:] = MASKED_LOGIT
        else:
            cvalid = valid.reshape(b, h, n, c)
            first = (torch.arange(n, device=x.device) % per_round) == 0
            prev_valid = torch.roll(cvalid, 1, dims=2) & ~first[None, None, :, None]
            logits.masked_fill_(~torch.cat([cvalid, prev_valid], dim=3)[..., None, :], MASKED_LOGIT)
        if nh == 1:  # one round: its combination weight is exactly 1, no log-normaliser needed
            probs = torch.softmax(logits, dim=-1)
        else:
            lse = torch.logsumexp(logits, dim=-1, keepdim=True)
            probs = torch.exp(logits - lse)
        probs = F.dropout(probs, self.attention_dropout, self.training)
        y = torch.matmul(probs, vals).reshape(-1, dh)  # [B * H * nh * Lp, Dh] in sorted order

        # Un-sort: sorted slot (b, h, round, position) goes to row ((b * nh + round) * Lp + position) * H + h.
        rows = (((batch * nh + order // padded) * padded + pos) * h + head).flatten()
        out = y.new_empty(b * nh * padded * h, dh).index_copy_(0, rows, y).view(b, nh, padded, h * dh)
        if nh > 1:  # combine the hash rounds with weights softmax over rounds of each one's logsumexp
            lse = y.new_empty(b * nh * padded * h, 1).index_copy_(0, rows, lse.reshape(-1, 1))
            weights = torch.softmax(lse.view(b, nh, padded, h, 1), dim=1)
            out = (out.view(b, nh, padded, h, dh) * weights).sum(dim=1).view(b, 1, padded, h * dh)
        return self.out(out[:, 0, :length])


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
