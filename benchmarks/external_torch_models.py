"""Public PyTorch implementations from PyPI, wrapped as lra model cards for side-by-side timing.

An ordinary lra plugin module (load it with ``-p benchmarks.external_torch_models``), used only by
``benchmarks/zoo_torch.py``; these packages are the optional ``bench`` extra, never core
dependencies. Where a package ships an attention layer, it is placed inside the same encoder shell
(embeddings, pre-LN blocks, MLP, final LN) as our models, so only the attention differs. BigBird and
Longformer exist on PyPI only as whole Hugging Face models, built from a config of the same width,
depth, heads and MLP size; they are timed whole.
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

    layer = LinformerSelfAttention(dim=c.d_model, seq_len=i.max_length, k=c.low_rank_features, heads=c.num_heads,
                                   dim_head=c.head_dim, share_kv=True)
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
                        block_size=c.block_size, num_random_blocks=3)
    return _HFEncoder(BigBirdModel(cfg, add_pooling_layer=False))


def _hf_longformer(c: ExternalConfig, i: EncoderInputs) -> nn.Module:
    from transformers import LongformerConfig, LongformerModel

    cfg = LongformerConfig(vocab_size=i.vocab_size, hidden_size=c.d_model, num_hidden_layers=c.num_layers,
                           num_attention_heads=c.num_heads, intermediate_size=c.mlp_dim,
                           max_position_embeddings=i.max_length + 2, attention_window=c.window)
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
