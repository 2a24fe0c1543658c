"""Deliberately broken JAX/Flax encoders: each breaks one rule of the encoder contract.

Twins of ``broken_torch_encoders`` (same card names, framework ``jax``). ``inputs_untouched`` has no
broken twin: JAX arrays are immutable, so a Flax module cannot modify its inputs in place.
"""

from __future__ import annotations

from typing import Any, Callable

import flax.linen as nn
import jax
import jax.numpy as jnp
import numpy as np

from lra_core import Capabilities, EncoderConfig, EncoderInputs, ModelCard, hookimpl
from lra_jax.models.common import Encoder, merge_heads
from lra_jax.models.transformer import SoftmaxAttention

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
    "cf-hidden-state": ("state_round_trip", "fail"),
    "cf-claims-linear": ("complexity", "fail"),
    "cf-oversized": ("param_budget", "warn"),
    "cf-xfail-declared": ("padding_mask", "expected-failure"),
    "cf-xpass-declared": ("bidirectional", "warn"),
}


def reference(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
    return Encoder(config, inputs, lambda _: SoftmaxAttention(config))


# ---- attention variants ------------------------------------------------------------------------------
class IgnoresMask(SoftmaxAttention):
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        q, k, v = self.project(x)
        return self.out(merge_heads(jax.nn.dot_product_attention(q, k, v)))


class Causal(SoftmaxAttention):
    def __call__(self, x: jax.Array, mask: jax.Array, *, train: bool = False) -> jax.Array:
        q, k, v = self.project(x)
        length = x.shape[1]
        causal = jnp.tril(jnp.ones((length, length), bool))
        return self.out(merge_heads(jax.nn.dot_product_attention(q, k, v, mask=causal[None, None] & mask[:, None, None, :])))


def with_attention(cls: type[nn.Module]):
    def build(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
        return Encoder(config, inputs, lambda _: cls(config))

    return build


# ---- post-processing wrappers ------------------------------------------------------------------------
class Wrapped(nn.Module):
    """The reference encoder followed by one deliberate bug."""

    config: EncoderConfig
    inputs: EncoderInputs
    bug: str
    #: A constant drawn when the factory runs (cf-hidden-state).
    constant: Any = None

    def setup(self) -> None:
        self.inner = reference(self.config, self.inputs)
        d = self.config.d_model
        if self.bug == "detached":
            self.scale = self.param("scale", nn.initializers.ones, (d,))
        if self.bug == "unseeded-init":
            # numpy's unseeded generator: not controlled by the build seed.
            self.bias = self.param("bias", lambda key, shape: jnp.asarray(np.random.default_rng().normal(size=shape), jnp.float32), (d,))
        if self.bug == "oversized":
            self.fc_a = nn.Dense(4 * d)
            self.fc_b = nn.Dense(d)
        self.dropout = nn.Dropout(0.1)

    def __call__(self, tokens: jax.Array, mask: jax.Array, train: bool = False) -> jax.Array:
        out = self.inner(tokens, mask, train=train)
        bug = self.bug
        if bug == "nan-padding":
            return jnp.where(mask[..., None], out, jnp.nan)
        if bug == "blocks16":
            b, length, d = out.shape
            if length % 16:
                raise ValueError(f"length {length} is not a multiple of the block size 16")
            return out.reshape(b, length // 16, 16, d).reshape(b, length, d)
        if bug == "batch-mixing":
            return out + 0.5 * out.mean(axis=0, keepdims=True)
        if bug == "eval-dropout":
            # Decides by the presence of an RNG instead of the train flag.
            return self.dropout(out, deterministic=not self.has_rng("dropout"))
        if bug == "detached":
            return out * jax.lax.stop_gradient(self.scale)
        if bug == "unseeded-init":
            return out + self.bias
        if bug == "hidden-state":
            return out + jnp.asarray(self.constant)
        if bug == "oversized":
            return out + self.fc_b(nn.gelu(self.fc_a(out)))
        raise ValueError(f"unknown bug {bug!r}")


def wrapped(bug: str):
    def build(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
        constant = None
        if bug == "hidden-state":  # state outside the parameters, not even a function of the seed
            constant = tuple(float(v) for v in np.random.default_rng().normal(size=config.d_model))
        return Wrapped(config, inputs, bug, constant)

    return build


def fixed_width(config: EncoderConfig, inputs: EncoderInputs) -> nn.Module:
    return reference(EncoderConfig(), inputs)


# ---- fixed-key initialisation (every parameter ignores the seed) ---------------------------------------
def _fixed(std: float):
    def init(key: jax.Array, shape: tuple[int, ...], dtype: Any = jnp.float32) -> jax.Array:
        return std * jax.random.normal(jax.random.PRNGKey(1234), shape, dtype)

    return init


class FixedSeedEncoder(nn.Module):
    """A one-layer attention encoder whose initialisers all use one fixed key."""

    config: EncoderConfig
    inputs: EncoderInputs

    @nn.compact
    def __call__(self, tokens: jax.Array, mask: jax.Array, train: bool = False) -> jax.Array:
        c = self.config
        x = nn.Embed(self.inputs.vocab_size, c.d_model, embedding_init=_fixed(1.0), name="embed")(tokens)
        h = nn.LayerNorm(name="norm1")(x)
        q, k, v = (
            nn.Dense(c.qkv_dim, use_bias=False, kernel_init=_fixed(0.2), name=n)(h).reshape(*h.shape[:2], c.num_heads, -1)
            for n in ("query", "key", "value")
        )
        y = jax.nn.dot_product_attention(q, k, v, mask=mask[:, None, None, :])
        x = x + nn.Dense(c.d_model, kernel_init=_fixed(0.2), name="out")(y.reshape(*y.shape[:2], -1))
        return nn.LayerNorm(name="norm")(x)


def _card(name: str, factory: Callable[..., nn.Module], **kwargs: Any) -> ModelCard:
    kwargs.setdefault("capabilities", Capabilities(padding_mask=True, complexity="quadratic"))
    return ModelCard(name=name, framework="jax", factory=factory, description=f"conformance test encoder {name}", **kwargs)


CARDS = [
    _card("cf-ok", reference),
    _card("cf-bad-card", reference, task_overrides={"listops": {"model.no_such_field": 3}}),
    _card("cf-fixed-width", fixed_width),
    _card("cf-nan-padding", wrapped("nan-padding")),
    _card("cf-blocks16", wrapped("blocks16")),
    _card("cf-batch-mixing", wrapped("batch-mixing")),
    _card("cf-ignores-mask", with_attention(IgnoresMask)),
    _card(
        "cf-ignores-mask-declared",
        with_attention(IgnoresMask),
        capabilities=Capabilities(padding_mask=False, complexity="quadratic"),
    ),
    _card("cf-causal", with_attention(Causal)),
    _card("cf-eval-dropout", wrapped("eval-dropout")),
    _card("cf-fixed-seed", FixedSeedEncoder),
    _card("cf-unseeded-init", wrapped("unseeded-init")),
    _card("cf-detached", wrapped("detached")),
    _card("cf-hidden-state", wrapped("hidden-state")),
    _card("cf-claims-linear", reference, capabilities=Capabilities(padding_mask=True, complexity="linear")),
    _card("cf-oversized", wrapped("oversized")),
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
