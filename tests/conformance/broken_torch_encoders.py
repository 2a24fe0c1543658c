"""Deliberately broken torch encoders: each breaks one rule of the encoder contract.

A plugin module (load with ``load_registry(modules=["broken_torch_encoders"])`` or ``-p``). Every
card is a small variation of the reference Transformer; :data:`EXPECTED` says which check must flag
it and with what status. ``cf-ok`` breaks nothing.
"""

from __future__ import annotations

from typing import Callable

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard, hookimpl
from lra_torch.models.common import Encoder, merge_heads
from lra_torch.models.transformer import SoftmaxAttention

#: card name -> (check that must flag it, status it must get). Every other check must pass.
EXPECTED: dict[str, tuple[str, str]] = {
    "cf-bad-card": ("card_valid", "fail"),
    "cf-fixed-width": ("factory_builds", "fail"),
    "cf-nan-padding": ("output_contract", "fail"),
    "cf-blocks16": ("output_lengths", "fail"),
    "cf-batch-mixing": ("batch_independence", "fail"),
    "cf-ignores-mask": ("padding_mask", "fail"),
    "cf-ignores-mask-declared": ("padding_mask", "warn"),
    "cf-causal": ("bidirectional", "fail"),
    "cf-eval-dropout": ("eval_determinism", "fail"),
    "cf-fixed-seed": ("seeded_init", "fail"),
    "cf-unseeded-init": ("seeded_init", "fail"),
    "cf-detached": ("gradients", "fail"),
    "cf-mutates-inputs": ("inputs_untouched", "fail"),
    "cf-hidden-state": ("state_round_trip", "fail"),
    "cf-claims-linear": ("complexity", "fail"),
    "cf-oversized": ("param_budget", "warn"),
    "cf-xfail-declared": ("padding_mask", "expected-failure"),
    "cf-xpass-declared": ("bidirectional", "warn"),
}


def reference(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: SoftmaxAttention(config))


class Wrapped(nn.Module):
    """The reference encoder followed by ``post(outputs, tokens, mask, module)``."""

    def __init__(self, config: EncoderConfig, inputs: EncoderInputs, post: Callable[..., torch.Tensor]) -> None:
        super().__init__()
        self.inner = reference(config, inputs)
        self.post = post

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.post(self.inner(tokens, mask), tokens, mask, self)


def wrapped(post: Callable[..., torch.Tensor], setup: Callable[[nn.Module, EncoderConfig], None] | None = None):
    def build(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
        module = Wrapped(config, inputs, post)
        if setup is not None:
            setup(module, config)
        return module

    return build


# ---- attention variants ------------------------------------------------------------------------------
class IgnoresMask(SoftmaxAttention):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.project(x)
        return self.out(merge_heads(F.scaled_dot_product_attention(q, k, v)))


class Causal(SoftmaxAttention):
    def forward(self, x: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        q, k, v = self.project(x)
        length = x.shape[1]
        causal = torch.ones(length, length, dtype=torch.bool, device=x.device).tril()
        attn_mask = causal[None, None] & mask[:, None, None, :]
        return self.out(merge_heads(F.scaled_dot_product_attention(q, k, v, attn_mask=attn_mask)))


def with_attention(cls: type[nn.Module]):
    def build(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
        return Encoder(config, inputs, lambda _: cls(config))

    return build


# ---- factories ---------------------------------------------------------------------------------------
def fixed_width(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
    # Ignores the config's width: always the default dimensions.
    return reference(EncoderConfig(), inputs)


def nan_padding(out, tokens, mask, module):
    return out.masked_fill(~mask[..., None], float("nan"))


def blocks16(out, tokens, mask, module):
    # Reshapes the sequence into blocks of 16 without padding it to a multiple first.
    b, length, d = out.shape
    return out.view(b, length // 16, 16, d).reshape(b, length, d)


def batch_mixing(out, tokens, mask, module):
    return out + 0.5 * out.mean(dim=0, keepdim=True)


def eval_dropout(out, tokens, mask, module):
    return F.dropout(out, p=0.1, training=True)  # ignores module.training


def fixed_seed(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
    torch.manual_seed(1234)  # overrides the seed the backend set
    return reference(config, inputs)


def unseeded_init(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
    module = reference(config, inputs)
    with torch.no_grad():  # numpy's unseeded generator: not controlled by the build seed
        w = module.norm.weight
        w.copy_(torch.from_numpy(np.random.default_rng().normal(1.0, 0.1, size=w.shape).astype(np.float32)))
    return module


def add_scale(module: nn.Module, config: EncoderConfig) -> None:
    module.scale = nn.Parameter(torch.ones(config.d_model))


def detached(out, tokens, mask, module):
    return out * module.scale.detach()


class MutatesInputs(nn.Module):
    def __init__(self, config: EncoderConfig, inputs: EncoderInputs) -> None:
        super().__init__()
        self.inner = reference(config, inputs)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        tokens.masked_fill_(~mask, 0)  # "sanitises" padded ids in the caller's tensor
        return self.inner(tokens, mask)


def add_offset(module: nn.Module, config: EncoderConfig) -> None:
    module.register_buffer("offset", torch.randn(config.d_model))  # seeded, but not a parameter


def hidden_state(out, tokens, mask, module):
    return out + module.offset


def add_mlp(module: nn.Module, config: EncoderConfig) -> None:
    d = config.d_model
    module.extra = nn.Sequential(nn.Linear(d, 4 * d), nn.GELU(), nn.Linear(4 * d, d))


def oversized(out, tokens, mask, module):
    return out + module.extra(out)


def _card(name: str, factory: Callable[..., nn.Module], **kwargs) -> ModelCard:
    kwargs.setdefault("capabilities", Capabilities(padding_mask=True, complexity="quadratic"))
    return ModelCard(name=name, framework="torch", factory=factory, description=f"conformance test encoder {name}", **kwargs)


CARDS = [
    _card("cf-ok", reference),
    _card("cf-bad-card", reference, task_overrides={"listops": {"model.no_such_field": 3}}),
    _card("cf-fixed-width", fixed_width),
    _card("cf-nan-padding", wrapped(nan_padding)),
    _card("cf-blocks16", wrapped(blocks16)),
    _card("cf-batch-mixing", wrapped(batch_mixing)),
    _card("cf-ignores-mask", with_attention(IgnoresMask)),
    _card(
        "cf-ignores-mask-declared",
        with_attention(IgnoresMask),
        capabilities=Capabilities(padding_mask=False, complexity="quadratic"),
    ),
    _card("cf-causal", with_attention(Causal)),
    _card("cf-eval-dropout", wrapped(eval_dropout)),
    _card("cf-fixed-seed", fixed_seed),
    _card("cf-unseeded-init", unseeded_init),
    _card("cf-detached", wrapped(detached, add_scale)),
    _card("cf-mutates-inputs", MutatesInputs),
    _card("cf-hidden-state", wrapped(hidden_state, add_offset)),
    _card("cf-claims-linear", reference, capabilities=Capabilities(padding_mask=True, complexity="linear")),
    _card("cf-oversized", wrapped(oversized, add_mlp)),
    _card(
        "cf-xfail-declared",
        with_attention(IgnoresMask),
        expected_failures={"padding_mask": "attends to padding (known, tracked in issue 99)"},
    ),
    _card("cf-xpass-declared", reference, expected_failures={"bidirectional": "believed causal"}),
]


@hookimpl
def lra_register_models(register: Callable[[ModelCard], None]) -> None:
    for card in CARDS:
        register(card)
