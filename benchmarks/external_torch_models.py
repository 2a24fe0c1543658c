"""Public PyTorch implementations from PyPI, wrapped as lra model cards for side-by-side timing.

An ordinary lra plugin module (load it with ``-p benchmarks.external_torch_models``), used only by
``benchmarks/zoo_torch.py``; these packages are the optional ``bench`` extra, never core
dependencies. Where a package ships an attention layer, it is placed inside the same encoder shell
(embeddings, pre-LN blocks, MLP, final LN) as our models, so only the attention differs. BigBird and
Longformer exist on PyPI only as whole Hugging Face models, built from a config of the same width,
depth, heads and MLP size (dropout as ours); they are timed whole.

What cannot be made identical, pair by pair (``zoo_torch.PAIRS`` sets the shared settings):

- performer: ours is LRA's deterministic ReLU kernel (``relu(x) + 1e-3``, no projection);
  performer-pytorch's generalized attention always projects first, so it gets ``nb_features = Dh``
  (one extra ``[L, Dh] x [Dh, Dh]`` product per head). It zeroes padded values but keeps padded keys
  in its normaliser.
- linformer: the package's ``share_kv=True`` would reuse the key projection as the values (no value
  projection: a cheaper, different model), so it runs with ``share_kv=False``: separate key and value
  projections as ours, and a length projection E each where ours shares one (same work). It has no
  padding mask.
- linear_transformer: the package's linear attention uses softmax feature maps (queries over
  features, keys over positions) and no normaliser; ours is elu+1 with the normaliser
  ``phi(q) . sum phi(k)``: the same cost class, one reduction and one division fewer on theirs.
- local: identical pattern (non-overlapping windows of 64, no look-back/ahead).
- sinkhorn: the package sorts with its default top-1 ``non_permutative`` sort (a softmax, then the
  top entry) from a parameter-free sort net (block means of q and k), and takes one softmax over
  [sorted; local] keys; ours is LRA's: a learned sort net on key block sums, a soft permutation and
  two softmaxes summed. Its sorted values are its sorted *keys* (``b_v_r = b_k_r`` in the package),
  which saves it one mixing product in the backward pass. Both mix blocks with a dense ``n x n``
  product.
- reformer: reformer-pytorch sets ``n_buckets = L / bucket_size`` (64 at 4K; ours 16; hashing costs
  ``L * Dh * n_buckets / 2``, negligible); chunks of 64, one hash round, one chunk of look-back
  on both.
- bigbird / longformer: whole Hugging Face models: post-LN BERT layers, learned positions and
  token types; Longformer's ``attention_window=512`` reads 256 keys on each side (513 keys, ours 512).
"""

from __future__ import annotations

from typing import Callable

import torch
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard, hookimpl

from lra_torch.models.common import Encoder


class ExternalConfig(EncoderConfig):
    block_size: int = 64
    nb_features: int = 256
    low_rank_features: int = 16
    n_hashes: int = 1
    window: int = 512


class _AttentionAdapter(nn.Module):
    """Calls a package's self-attention layer as ``forward(x, mask)``."""

    def __init__(self, layer: nn.Module, call: Callable[[nn.Module, torch.Tensor, torch.Tensor], torch.Tensor]) -> None:
        super().__init__()
        self.layer = layer
        self.call = call

    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.call(self.layer, x, mask)


def _shell(make: Callable[[ExternalConfig, EncoderInputs], _AttentionAdapter]) -> Callable[..., nn.Module]:
    def build(config: ExternalConfig, inputs: EncoderInputs) -> nn.Module:
        return Encoder(config, inputs, lambda _: make(config, inputs))

    return build


def _performer(c: ExternalConfig, i: EncoderInputs) -> _AttentionAdapter:
    from performer_pytorch import SelfAttention

    layer = SelfAttention(dim=c.d_model, heads=c.num_heads, dim_head=c.head_dim, nb_features=c.nb_features,
                          generalized_attention=True, kernel_fn=nn.ReLU())
    return _AttentionAdapter(layer, lambda m, x, mask: m(x, mask=mask))


def _linformer(c: ExternalConfig, i: EncoderInputs) -> _AttentionAdapter:
    from linformer import LinformerSelfAttention

    # share_kv=False: the package's share_kv=True reuses the *key projection* as the values (no
    # value projection at all), a cheaper model than Linformer's. With it off, keys and values have
    # their own projections as ours; the package then also gives each its own length projection E
    # (ours shares one E): one more [L, k] parameter, the same work.
    layer = LinformerSelfAttention(dim=c.d_model, seq_len=i.max_length, k=c.low_rank_features, heads=c.num_heads,
                                   dim_head=c.head_dim, share_kv=False)
    return _AttentionAdapter(layer, lambda m, x, mask: m(x))  # the package has no padding mask


def _linear(c: ExternalConfig, i: EncoderInputs) -> _AttentionAdapter:
    from linear_attention_transformer.linear_attention_transformer import SelfAttention

    layer = SelfAttention(dim=c.d_model, heads=c.num_heads, dim_head=c.head_dim)
    return _AttentionAdapter(layer, lambda m, x, mask: m(x, input_mask=mask))


def _local(c: ExternalConfig, i: EncoderInputs) -> _AttentionAdapter:
    from local_attention import LocalAttention

    class Local(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            self.qkv = nn.Linear(c.d_model, 3 * c.qkv_dim, bias=False)
            self.out = nn.Linear(c.qkv_dim, c.d_model)
            # look_backward=0/look_forward=0: non-overlapping windows, like our local attention.
            self.attn = LocalAttention(window_size=c.block_size, causal=False, look_backward=0, look_forward=0,
                                       dim=c.head_dim, autopad=True, use_rotary_pos_emb=False)

        def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
            b, length, _ = x.shape
            q, k, v = self.qkv(x).view(b, length, 3, c.num_heads, c.head_dim).permute(2, 0, 3, 1, 4)
            y = self.attn(q, k, v, mask=mask)
            return self.out(y.transpose(1, 2).reshape(b, length, c.qkv_dim))

    return _AttentionAdapter(Local(), lambda m, x, mask: m(x, mask))


def _sinkhorn(c: ExternalConfig, i: EncoderInputs) -> _AttentionAdapter:
    from sinkhorn_transformer import SinkhornSelfAttention

    layer = SinkhornSelfAttention(dim=c.d_model, bucket_size=c.block_size, max_seq_len=i.max_length,
                                  heads=c.num_heads, dim_head=c.head_dim)
    return _AttentionAdapter(layer, lambda m, x, mask: m(x, input_mask=mask))


def _reformer(c: ExternalConfig, i: EncoderInputs) -> _AttentionAdapter:
    from reformer_pytorch import LSHSelfAttention

    layer = LSHSelfAttention(dim=c.d_model, heads=c.num_heads, dim_head=c.head_dim, bucket_size=c.block_size,
                             n_hashes=c.n_hashes)
    return _AttentionAdapter(layer, lambda m, x, mask: m(x, input_mask=mask))


class _HFEncoder(nn.Module):
    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.model = model

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.model(input_ids=tokens, attention_mask=mask.long()).last_hidden_state


def _hf_bigbird(c: ExternalConfig, i: EncoderInputs) -> nn.Module:
    from transformers import BigBirdConfig, BigBirdModel

    cfg = BigBirdConfig(vocab_size=i.vocab_size, hidden_size=c.d_model, num_hidden_layers=c.num_layers,
                        num_attention_heads=c.num_heads, intermediate_size=c.mlp_dim,
                        max_position_embeddings=i.max_length, attention_type="block_sparse",
                        block_size=c.block_size, num_random_blocks=3, hidden_dropout_prob=c.dropout,
                        attention_probs_dropout_prob=c.attention_dropout)
    return _HFEncoder(BigBirdModel(cfg, add_pooling_layer=False))


def _hf_longformer(c: ExternalConfig, i: EncoderInputs) -> nn.Module:
    from transformers import LongformerConfig, LongformerModel

    cfg = LongformerConfig(vocab_size=i.vocab_size, hidden_size=c.d_model, num_hidden_layers=c.num_layers,
                           num_attention_heads=c.num_heads, intermediate_size=c.mlp_dim,
                           max_position_embeddings=i.max_length + 2, attention_window=c.window,
                           hidden_dropout_prob=c.dropout, attention_probs_dropout_prob=c.attention_dropout)
    return _HFEncoder(LongformerModel(cfg, add_pooling_layer=False))


#: external card name -> (our model it is compared with, factory, package, complexity)
EXTERNAL: dict[str, tuple[str, Callable[..., nn.Module], str, str]] = {
    "ext-performer-pytorch": ("performer", _shell(_performer), "performer-pytorch", "linear"),
    "ext-linformer": ("linformer", _shell(_linformer), "linformer", "linear"),
    "ext-linear-attention-transformer": ("linear_transformer", _shell(_linear), "linear-attention-transformer", "linear"),
    "ext-local-attention": ("local", _shell(_local), "local-attention", "linear"),
    "ext-sinkhorn-transformer": ("sinkhorn", _shell(_sinkhorn), "sinkhorn-transformer", "linear"),
    "ext-reformer-pytorch": ("reformer", _shell(_reformer), "reformer-pytorch", "nlogn"),
    "ext-hf-bigbird": ("bigbird", _hf_bigbird, "transformers (BigBirdModel)", "linear"),
    "ext-hf-longformer": ("longformer", _hf_longformer, "transformers (LongformerModel)", "linear"),
}


@hookimpl
def lra_register_models(register: Callable[[ModelCard], None]) -> None:
    for name, (ours, factory, package, complexity) in EXTERNAL.items():
        register(
            ModelCard(
                name=name,
                framework="torch",
                factory=factory,
                config=ExternalConfig,
                capabilities=Capabilities(padding_mask=name != "ext-linformer", complexity=complexity),
                description=f"{package} (PyPI), for comparison with torch/{ours}",
            )
        )
