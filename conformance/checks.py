"""The rules of the encoder contract, one check each, written once in NumPy on backend primitives.

A check receives a :class:`~lra_conformance.context.CheckContext` and returns an :class:`Outcome`
(or raises :class:`~lra_conformance.context.Skip`); an exception from the model or backend is turned
into a failure by the runner. Failure messages name the rule, the inputs and the offending values.

``fast`` checks are the ones ``lra-run`` runs before training: a few seconds on a CPU in total.
"""

from __future__ import annotations

import inspect
import math
import statistics
import time
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
from pydantic import ValidationError

from lra_core import EncoderConfig, ModelCard, TrainingSettings
from lra_core.cards import COMPLEXITY_EXPONENTS
from lra_core.errors import PluginError
from lra_core.resolve import reference_config

from .context import BASE_LENGTH, BASE_MAX_LENGTH, MAX_CHECKED_LENGTH, CheckContext, Skip
from .report import FAIL, PASS, WARN


@dataclass
class Outcome:
    status: str
    message: str
    measured: dict[str, Any] = field(default_factory=dict)


def passed(message: str, **measured: Any) -> Outcome:
    return Outcome(PASS, message, measured)


def failed(message: str, **measured: Any) -> Outcome:
    return Outcome(FAIL, message, measured)


def warned(message: str, **measured: Any) -> Outcome:
    return Outcome(WARN, message, measured)


@dataclass(frozen=True)
class Check:
    """One rule: a stable id (used in ``--check``, test ids and ``expected_failures``)."""

    id: str
    rule: str
    run: Callable[[CheckContext], Outcome]
    fast: bool
    #: Returns a reason to skip the check for this card, or None when it applies.
    applies: Callable[[ModelCard], str | None] = lambda card: None


CHECKS: dict[str, Check] = {}


def check(id: str, rule: str, *, fast: bool, applies: Callable[[ModelCard], str | None] | None = None):
    def register(fn: Callable[[CheckContext], Outcome]) -> Callable[[CheckContext], Outcome]:
        if id in CHECKS:
            raise ValueError(f"conformance check {id!r} is defined twice")
        CHECKS[id] = Check(id, rule, fn, fast, applies or (lambda card: None))
        return fn

    return register


def _fmt_shape(shape: tuple[int, ...]) -> str:
    return "[" + ", ".join(str(s) for s in shape) + "]"


# ---- the card and the factory ---------------------------------------------------------------------
_TASK_KEYS = {"max_length", "pooling"}


def _override_problems(card: ModelCard, default: EncoderConfig) -> list[str]:
    problems = []
    for task, overrides in card.task_overrides.items():
        for key, value in overrides.items():
            head, _, rest = key.partition(".")
            where = f"task_overrides[{task!r}][{key!r}]"
            if head == "model" and rest:
                if rest not in card.config.model_fields:
                    problems.append(f"{where}: {card.config.__name__} has no field {rest!r}")
                    continue
                try:
                    card.config.model_validate({**default.model_dump(), rest: value})
                except ValidationError as e:
                    problems.append(f"{where}={value!r} is invalid: {e.errors()[0]['msg']}")
            elif head == "training" and rest:
                if rest not in TrainingSettings.model_fields:
                    problems.append(f"{where}: TrainingSettings has no field {rest!r}")
            elif not ((head == "splits" and rest) or key in _TASK_KEYS):
                problems.append(f"{where}: unknown key; use model.<field>, training.<field>, splits.<split>, max_length or pooling")
    return problems


@check("card_valid", "the model card is valid: fields, config defaults, capabilities, overrides, backend", fast=True)
def card_valid(ctx: CheckContext) -> Outcome:
    card = ctx.card
    problems: list[str] = []
    notes: list[str] = []
    try:  # a card made with model_construct() skipped validation; redo it
        type(card).model_validate(dict(card))
    except ValidationError as e:
        problems.extend(f"{'.'.join(map(str, err['loc']))}: {err['msg']}" for err in e.errors())
    if not callable(card.factory):
        problems.append("factory is not callable")
    else:
        try:
            inspect.signature(card.factory).bind(None, None)
        except TypeError as e:
            problems.append(f"factory must accept (config, inputs): {e}")
        except ValueError:
            pass  # builtins without a signature: the build checks will tell
    default: EncoderConfig | None = None
    try:
        default = card.config()
    except ValidationError as e:
        problems.append(f"config {card.config.__name__}() has no valid defaults: {e.errors()[0]['msg']}")
    if card.capabilities.complexity not in COMPLEXITY_EXPONENTS:
        problems.append(f"capabilities.complexity {card.capabilities.complexity!r} is not a registered class")
    try:
        ctx.registry.backend(card.framework)
    except PluginError as e:
        problems.append(str(e))
    if default is not None:
        problems.extend(_override_problems(card, default))
    unknown = sorted(set(card.expected_failures) - set(CHECKS))
    if unknown:
        notes.append(f"expected_failures names unknown check(s) {unknown}; known: {', '.join(CHECKS)}")
    if not card.description.strip():
        notes.append("description is empty")
    if problems:
        return failed(f"card {card.id} is invalid: " + "; ".join(problems), problems=problems)
    if notes:
        return warned(f"card {card.id}: " + "; ".join(notes), notes=notes)
    return passed(f"card {card.id} is valid")


def _other_width(config: EncoderConfig) -> EncoderConfig:
    """The default config at twice the width (d_model, qkv_dim, mlp_dim), heads unchanged."""
    data = config.model_dump()
    data.update(d_model=2 * config.d_model, qkv_dim=2 * config.qkv_dim, mlp_dim=2 * config.mlp_dim)
    return type(config).model_validate(data)


@check("factory_builds", "the factory builds and runs with the default config and with another width", fast=False)
def factory_builds(ctx: CheckContext) -> Outcome:
    tokens = ctx.tokens("factory", 2, ctx.clamp(BASE_LENGTH))
    mask = np.ones_like(tokens, dtype=bool)
    shapes = {}
    default = ctx.default_config()
    try:
        other = _other_width(default)
    except ValidationError as e:
        return failed(f"config at another width (d_model={2 * default.d_model}) is rejected: {e.errors()[0]['msg']}")
    for label, config in (("default", default), ("other width", other)):
        try:
            out = ctx.encode(ctx.build(config=config), tokens, mask)
        except Exception as e:
            return failed(f"{label} config (d_model={config.d_model}): build or encode raised {type(e).__name__}: {e}")
        want = (*tokens.shape, config.d_model)
        shapes[label] = list(np.shape(out))
        if np.shape(out) != want:
            return failed(
                f"{label} config (d_model={config.d_model}): tokens {_fmt_shape(tokens.shape)} gave outputs "
                f"{_fmt_shape(np.shape(out))}, expected {_fmt_shape(want)}: the factory must follow config.d_model",
                shapes=shapes,
            )
    return passed(f"builds and runs at d_model={default.d_model} and d_model={other.d_model}", shapes=shapes)


# ---- outputs --------------------------------------------------------------------------------------
def _expected_dtypes(precision: str) -> set[str]:
    # NumPy has no bfloat16 of its own; a bf16 backend may hand back ml_dtypes' bfloat16 or float32.
    return {"float32"} if precision == "fp32" else {"bfloat16", "float32"}


def _output_problem(ctx: CheckContext, out: Any, batch: int, length: int, mask: np.ndarray) -> str | None:
    if not isinstance(out, np.ndarray):
        return f"encode returned {type(out).__name__}, expected a NumPy array"
    want = (batch, length, ctx.default_config().d_model)
    if out.shape != want:
        return f"shape {_fmt_shape(out.shape)}, expected {_fmt_shape(want)}"
    if out.dtype.name not in _expected_dtypes(ctx.precision):
        return f"dtype {out.dtype.name}, expected {' or '.join(sorted(_expected_dtypes(ctx.precision)))} ({ctx.precision})"
    bad = ~np.isfinite(out.astype(np.float32))
    if bad.any():
        b, pos, _ = np.argwhere(bad)[0]
        kind = "real" if mask[b, pos] else "padded"
        return (
            f"{int(bad.sum())} non-finite value(s), first at example {b}, position {pos} ({kind}): "
            "outputs must be finite everywhere, padded positions included (pooling multiplies them by 0)"
        )
    return None


@check("output_contract", "outputs are [B, L, d_model], float of the configured precision, finite (padding included)", fast=True)
def output_contract(ctx: CheckContext) -> Outcome:
    length = ctx.clamp(BASE_LENGTH)
    lengths = [length, max(1, (2 * length) // 3), max(1, length // 3)]
    tokens = ctx.tokens("output_contract", 3, length)
    mask = ctx.mask(lengths, length)
    out = ctx.encode(ctx.handle(), tokens, mask)
    problem = _output_problem(ctx, out, 3, length, mask)
    inputs = f"tokens [3, {length}], real lengths {lengths}"
    if problem:
        return failed(f"{inputs}: {problem}", shape=list(np.shape(out)), dtype=str(getattr(out, "dtype", "")))
    return passed(f"{inputs}: shape {_fmt_shape(out.shape)}, {out.dtype.name}, finite", shape=list(out.shape), dtype=out.dtype.name)


def _cases_to_check(ctx: CheckContext) -> tuple[list[tuple[int, int]], str]:
    """(batch, length) pairs: length 1 and an odd length at B=1 and B=3, lengths that are not a
    multiple of common block sizes (50, 100) at B=3, and the declared max length at B=1.
    (B=3 and B=1 at L=64 are covered by output_contract and batch_independence.)"""
    cases = {(b, ctx.clamp(n)) for b, n in ((1, 1), (3, 1), (1, 7), (3, 7), (3, 50), (3, 100))}
    note = ""
    cap = ctx.max_length
    if cap is not None:
        if cap > MAX_CHECKED_LENGTH:
            note = f" (declared max_length {cap} is longer than the suite runs; checked {MAX_CHECKED_LENGTH})"
        cases.add((1, min(cap, MAX_CHECKED_LENGTH)))
    return sorted(cases, key=lambda c: (c[1], c[0])), note


@check("output_lengths", "outputs keep the contract for B in {1, 3} and lengths 1, odd, off-block and max_length", fast=False)
def output_lengths(ctx: CheckContext) -> Outcome:
    cases, note = _cases_to_check(ctx)
    longest = max(n for _, n in cases)
    handle = ctx.handle() if longest <= BASE_MAX_LENGTH else ctx.build(max_length=longest)
    problems = []
    for batch, length in cases:
        tokens = ctx.tokens(f"lengths-{batch}-{length}", batch, length)
        mask = np.ones_like(tokens, dtype=bool)
        case = f"B={batch} L={length}"
        try:
            out = ctx.encode(handle, tokens, mask)
        except Exception as e:
            problems.append(f"{case}: raised {type(e).__name__}: {str(e).splitlines()[0] if str(e) else ''}")
            continue
        problem = _output_problem(ctx, out, batch, length, mask)
        if problem:
            problems.append(f"{case}: {problem}")
    names = [f"B={b} L={n}" for b, n in cases]
    if problems:
        shown = "; ".join(problems[:4]) + (f"; and {len(problems) - 4} more" if len(problems) > 4 else "")
        return failed(f"{len(problems)} of {len(cases)} input shapes break the contract: {shown}{note}", cases=names, problems=problems)
    return passed(f"{len(cases)} shapes ({', '.join(names)}) keep the contract{note}", cases=names)


# ---- invariances ----------------------------------------------------------------------------------
@check("batch_independence", "an example's outputs do not depend on the other examples in its batch", fast=True)
def batch_independence(ctx: CheckContext) -> Outcome:
    ctx.require_comparable()
    handle = ctx.handle()
    length = ctx.clamp(BASE_LENGTH)
    lengths = [length, max(1, (2 * length) // 3), max(1, length // 3)]
    tokens = ctx.tokens("batch", 3, length)
    mask = ctx.mask(lengths, length)
    together = ctx.encode(handle, tokens, mask)
    reversed_ = ctx.encode(handle, tokens[::-1], mask[::-1])[::-1]
    worst = None
    for i in range(3):
        alone = ctx.encode(handle, tokens[i : i + 1], mask[i : i + 1])
        for label, batched in (("in a batch of 3", together), ("in the reversed batch", reversed_)):
            d = ctx.diff(alone, batched[i : i + 1], where=mask[i : i + 1])
            if worst is None or d.value > worst[0].value:
                worst = (d, i, label)
    assert worst is not None
    d, i, label = worst
    inputs = f"tokens [3, {length}], real lengths {lengths}"
    if d.exceeds:
        return failed(
            f"{inputs}: example {i} alone vs {label} differs at real positions, max |diff| {d.value:.3g} at "
            f"position {d.index[1]} (tolerance {d.tolerance:.1g}): outputs depend on other examples",
            max_abs_diff=d.value, tolerance=d.tolerance, example=i,
        )
    return passed(f"{inputs}: each example alone matches it in the batch (max |diff| {d.value:.3g})", max_abs_diff=d.value, tolerance=d.tolerance)


@check("padding_mask", "real-position outputs ignore padded tokens and appended padding (warn if padding_mask=False)", fast=True)
def padding_mask(ctx: CheckContext) -> Outcome:
    ctx.require_comparable()
    handle = ctx.handle()
    length = ctx.clamp(BASE_LENGTH)
    real = max(1, (length * 3) // 5)
    if real == length:
        raise Skip(f"max_length {length} leaves no room for padding")
    # Two examples with the same real length, so the rule is judged apart from batch independence.
    tokens = ctx.tokens("padding", 2, length)
    mask = ctx.mask([real, real], length)
    rng = ctx.rng("padding-changed")
    base = ctx.encode(handle, tokens, mask)
    changed = tokens.copy()
    changed[:, real:] = ctx.different_tokens(tokens[:, real:], rng)
    moved = {"padded tokens changed": ctx.diff(base, ctx.encode(handle, changed, mask), where=mask)}
    longer = ctx.clamp(length + length // 2)
    if longer > length:
        extra = ctx.tokens("padding-appended", 2, longer - length)
        t2 = np.concatenate([tokens, extra], axis=1)
        m2 = np.concatenate([mask, np.zeros_like(extra, dtype=bool)], axis=1)
        moved[f"padding appended to L={longer}"] = ctx.diff(base, ctx.encode(handle, t2, m2)[:, :length], where=mask)
    inputs = f"tokens [2, {length}], real length {real}"
    measured = {k: v.value for k, v in moved.items()} | {"tolerance": min(v.tolerance for v in moved.values())}
    bad = {k: v for k, v in moved.items() if v.exceeds}
    if not ctx.card.capabilities.padding_mask:
        if bad:
            what = "; ".join(f"{k}: real outputs move by up to {v.value:.3g}" for k, v in bad.items())
            return warned(f"declares padding_mask=False; {inputs}: {what}", **measured)
        return passed(
            f"declares padding_mask=False, yet {inputs}: real outputs do not move; it could declare padding_mask=True",
            **measured,
        )
    if bad:
        what = "; ".join(f"{k}: {v.describe()}" for k, v in bad.items())
        return failed(f"declares padding_mask=True, but {inputs}: outputs at real positions moved when {what}", **measured)
    return passed(f"{inputs}: real-position outputs unchanged when padding changes or grows", **measured)


@check("bidirectional", "the output at an early position depends on later tokens (not causal)", fast=True)
def bidirectional(ctx: CheckContext) -> Outcome:
    ctx.require_comparable()
    handle = ctx.handle()
    length = ctx.clamp(BASE_LENGTH)
    if length < 2:
        raise Skip("max_length 1 has no later token")
    tokens = ctx.tokens("bidirectional", 2, length)
    mask = np.ones_like(tokens, dtype=bool)
    later = tokens.copy()
    later[:, 1:] = ctx.different_tokens(tokens[:, 1:], ctx.rng("bidirectional-later"))
    a = ctx.encode(handle, tokens, mask)[:, :1]
    b = ctx.encode(handle, later, mask)[:, :1]
    d = ctx.diff(a, b)
    inputs = f"tokens [2, {length}], all real"
    if not d.exceeds:
        return failed(
            f"{inputs}: changing every token after position 0 leaves the output at position 0 unchanged "
            f"(max |diff| {d.value:.3g}, tolerance {d.tolerance:.1g}): the encoder is causal or ignores later tokens",
            max_abs_diff=d.value, tolerance=d.tolerance,
        )
    return passed(f"{inputs}: position 0 responds to later tokens (max |diff| {d.value:.3g})", max_abs_diff=d.value)


@check("eval_determinism", "eval outputs are repeatable: across calls, RNG seeds and identical examples", fast=True)
def eval_determinism(ctx: CheckContext) -> Outcome:
    handle = ctx.handle()
    problem = ctx.repeatability(handle, "determinism")
    if problem:
        return failed(f"{problem}: randomness (dropout?) is active in eval mode")
    length = ctx.clamp(BASE_LENGTH)
    tokens = ctx.tokens("determinism-exact", 2, length)
    mask = ctx.mask([length, max(1, length // 2)], length)
    a = ctx.encode(handle, tokens, mask, seed=0)
    b = ctx.encode(handle, tokens, mask, seed=1)
    d = ctx.diff(a, b)
    if d.value > 0:
        return warned(f"tokens [2, {length}], train=False: close but not bit-identical across calls ({d.describe()})", max_abs_diff=d.value)
    return passed(f"tokens [2, {length}], train=False: repeatable across calls, seeds and identical examples", max_abs_diff=0.0)


@check("seeded_init", "the same seed gives the same parameters, different seeds different ones", fast=False)
def seeded_init(ctx: CheckContext) -> Outcome:
    p0 = ctx.handle().export_params()
    again = ctx.initial_params(0)  # an independent second build with seed 0
    other = ctx.initial_params(1)
    if set(p0) != set(again) or set(p0) != set(other):
        return failed("builds with seeds 0, 0 and 1 export different parameter names")
    unequal = sorted(k for k in p0 if not np.array_equal(p0[k], again[k]))
    if unequal:
        d = max(float(np.max(np.abs(p0[k].astype(np.float64) - again[k]))) for k in unequal)
        return failed(
            f"two builds with seed 0 differ in {len(unequal)} of {len(p0)} parameters (e.g. {unequal[:3]}, "
            f"max |diff| {d:.3g}): initialisation uses randomness the seed does not control",
            differing_same_seed=unequal,
        )
    differ = [k for k in p0 if not np.array_equal(p0[k], other[k])]
    if not differ:
        return failed(
            f"builds with seeds 0 and 1 have identical parameters (all {len(p0)}): the seed is ignored "
            "(a fixed seed or key inside the model?)",
        )
    return passed(
        f"seed 0 twice: identical; seeds 0 and 1: {len(differ)} of {len(p0)} parameters differ",
        parameters=len(p0), differing_other_seed=len(differ),
    )


def _jitter(value: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    if not np.issubdtype(value.dtype, np.floating):
        return value
    scale = max(float(np.sqrt(np.mean(value.astype(np.float64) ** 2))), 0.02) if value.size else 0.0
    return (value + 0.1 * scale * rng.standard_normal(value.shape)).astype(value.dtype)


@check("gradients", "a scalar loss on the pooled output gives finite, non-zero gradients to every trainable parameter", fast=True)
def gradients(ctx: CheckContext) -> Outcome:
    # At a generic point: with its initial all-ones final LayerNorm scale, sum(pooled outputs) is
    # constant in everything before that LayerNorm (normalised features sum to zero), so gradients
    # there would be float noise. Jittering every parameter removes such coincidences.
    handle = ctx.scratch(1)
    rng = ctx.rng("gradients-jitter")
    all_params = ctx.handle().export_params()
    handle.import_params({k: _jitter(v, rng) for k, v in all_params.items()})
    length = ctx.clamp(BASE_LENGTH)
    tokens = ctx.tokens("gradients", 2, length)
    # All real: what padded positions hold is output_contract's and padding_mask's business.
    mask = np.ones_like(tokens, dtype=bool)
    params = {k: v for k, v in all_params.items() if k.startswith("encoder.")}
    grads = handle.encoder_gradients(tokens.copy(), mask.copy())
    inputs = f"tokens [2, {length}], all real, loss sum(mean-pooled outputs), jittered parameters"
    missing = sorted(set(params) - set(grads))
    problems: list[str] = []
    if missing:
        problems.append(f"no gradient for {len(missing)} parameter(s) {missing[:3]}")
    shape_bad = [k for k in grads if k in params and np.shape(grads[k]) != params[k].shape]
    if shape_bad:
        problems.append(f"gradient shape differs from the parameter for {shape_bad[:3]}")
    nonfinite = sorted(k for k, g in grads.items() if not np.all(np.isfinite(np.asarray(g, np.float64))))
    if nonfinite:
        problems.append(f"non-finite gradients in {len(nonfinite)} parameter(s) {nonfinite[:3]}")
    # "Zero" includes float noise: a million times below the largest gradient anywhere.
    peak = {k: float(np.max(np.abs(np.asarray(g, np.float64)))) if np.size(g) else 0.0 for k, g in grads.items()}
    floor = 1e-6 * max([v for v in peak.values() if np.isfinite(v)] or [0.0])
    zero = sorted(k for k, v in peak.items() if k in params and k not in nonfinite and not v > floor)
    if zero:
        problems.append(f"zero gradients in {len(zero)} parameter(s) {zero[:3]} (unused, detached or dead)")
    norms = {k: float(np.linalg.norm(np.asarray(g, np.float64))) for k, g in grads.items()}
    if problems:
        return failed(f"{inputs}: " + "; ".join(problems), zero=zero, nonfinite=nonfinite, missing=missing)
    return passed(
        f"{inputs}: {len(grads)} parameters, all gradients finite and non-zero (smallest norm {min(norms.values()):.3g})",
        parameters=len(grads), min_grad_norm=min(norms.values()),
    )


@check("inputs_untouched", "the encoder does not modify its input arrays", fast=True)
def inputs_untouched(ctx: CheckContext) -> Outcome:
    handle = ctx.handle()
    length = ctx.clamp(BASE_LENGTH)
    lengths = [length, max(1, length // 2)]
    tokens = ctx.tokens("inputs", 2, length)
    mask = ctx.mask(lengths, length)
    t0, m0 = tokens.copy(), mask.copy()
    handle.encode(tokens, mask, train=False)  # the caller's own arrays this time, not copies
    problems = []
    if not np.array_equal(tokens, t0):
        problems.append(f"encode changed the NumPy tokens at {int((tokens != t0).sum())} position(s)")
    if not np.array_equal(mask, m0):
        problems.append(f"encode changed the NumPy mask at {int((mask != m0).sum())} position(s)")
    native_ok = handle.encode_preserves_inputs(t0.copy(), m0.copy())
    if not native_ok:
        problems.append("the encoder modified its native (framework) input tensors in place")
    inputs = f"tokens [2, {length}], real lengths {lengths}"
    if problems:
        return failed(f"{inputs}: " + "; ".join(problems), native_preserved=native_ok)
    return passed(f"{inputs}: NumPy and native inputs unchanged after encode", native_preserved=native_ok)


@check("state_round_trip", "export_params then import_params into a fresh model gives identical outputs", fast=True)
def state_round_trip(ctx: CheckContext) -> Outcome:
    ctx.require_comparable()
    source = ctx.handle()
    length = ctx.clamp(BASE_LENGTH)
    tokens = ctx.tokens("round-trip", 2, length)
    mask = ctx.mask([length, max(1, length // 2)], length)
    expected = ctx.encode(source, tokens, mask)
    params = source.export_params()
    bad_names = sorted(k for k in params if not k.startswith(("encoder.", "head.")))
    if bad_names:
        return failed(f"export_params names must start with 'encoder.' or 'head.': {bad_names[:3]}")
    not_arrays = sorted(k for k, v in params.items() if not isinstance(v, np.ndarray))
    if not_arrays:
        return failed(f"export_params values must be NumPy arrays: {not_arrays[:3]}")
    # A fresh model with another seed: state the export misses (seeded buffers, constants) shows.
    fresh = ctx.scratch(1)
    fresh.import_params({k: v.copy() for k, v in params.items()})
    reexported = fresh.export_params()
    not_loaded = sorted(k for k in params if k not in reexported or not np.array_equal(params[k], reexported[k]))
    if not_loaded:
        return failed(f"after import_params the fresh model exports different values for {not_loaded[:3]}")
    got = ctx.encode(fresh, tokens, mask)
    d = ctx.diff(expected, got, where=mask)
    inputs = f"tokens [2, {length}], {len(params)} parameters"
    if d.exceeds:
        same_seed = ctx.scratch(0)
        same_seed.import_params({k: v.copy() for k, v in params.items()})
        why = (
            "with a fresh model of the same seed they match, so the model keeps seed-dependent state "
            "outside export_params (a random buffer or constant)"
            if not ctx.diff(expected, ctx.encode(same_seed, tokens, mask), where=mask).exceeds
            else "they differ even with the same seed, so the model keeps state outside export_params "
            "that is not a function of the seed"
        )
        return failed(f"{inputs}: after export -> import into a fresh model (seed 1), {d.describe()}; {why}", max_abs_diff=d.value)
    return passed(f"{inputs}: fresh model (seed 1) reproduces the outputs after import (max |diff| {d.value:.3g})", max_abs_diff=d.value)


# ---- cost -----------------------------------------------------------------------------------------
#: How far above the declared exponent a measured growth exponent may go, per metric. Counted FLOPs
#: are exact; memory and time carry allocator and timer noise.
ALLOWANCE = {"flops": 0.35, "memory": 0.5, "time": 0.6}
COMPLEXITY_BASE_LENGTH = 256


def _growth_exponent(lengths: list[int], costs: list[float]) -> tuple[float, float]:
    """(incremental, overall) growth exponents of cost from L to 2L to 4L.

    The incremental one, ``log2((c(4L) - c(2L)) / (c(2L) - c(L)))``, cancels a constant cost
    (embedding tables, launch overhead), so a quadratic term shows even at small L.
    """
    c1, c2, c4 = costs
    overall = math.log(c4 / c1) / math.log(lengths[2] / lengths[0]) if c1 > 0 and c4 > 0 else float("nan")
    if c2 > c1 and c4 > c2:
        return math.log2((c4 - c2) / (c2 - c1)), overall
    return overall, overall


def _measure(ctx: CheckContext, handle: Any, tokens: np.ndarray, mask: np.ndarray, metric: str) -> float | None:
    if metric == "flops":
        return handle.count_flops(tokens.copy(), mask.copy())
    if metric == "memory":
        ctx.backend.sync()
        ctx.backend.reset_peak_memory()
        ctx.encode(handle, tokens, mask)
        ctx.backend.sync()
        return ctx.backend.peak_memory_bytes()
    ctx.encode(handle, tokens, mask)  # warm-up (compiles in JAX)
    times = []
    for _ in range(5):
        ctx.backend.sync()
        t0 = time.perf_counter()
        ctx.encode(handle, tokens, mask)
        ctx.backend.sync()
        times.append(time.perf_counter() - t0)
    return statistics.median(times)


@check("complexity", "cost growth from L to 4L is consistent with the declared complexity class", fast=False)
def complexity(ctx: CheckContext) -> Outcome:
    declared = ctx.card.capabilities.complexity
    exponent = COMPLEXITY_EXPONENTS[declared]
    base = COMPLEXITY_BASE_LENGTH if ctx.max_length is None else max(4, min(COMPLEXITY_BASE_LENGTH, ctx.max_length // 4))
    if ctx.max_length is not None and ctx.max_length < 16:
        raise Skip(f"declared max_length {ctx.max_length} is too short to measure growth")
    lengths = [base, 2 * base, 4 * base]
    handle = ctx.build(max_length=lengths[-1])
    inputs = [(ctx.tokens(f"complexity-{n}", 1, n), np.ones((1, n), dtype=bool)) for n in lengths]
    # Counted FLOPs are exact; device memory is reliable off the CPU; time is the last resort.
    metrics = ["flops"] + (["memory"] if ctx.device != "cpu" else []) + ["time"]
    for metric in metrics:
        costs = [_measure(ctx, handle, t, m, metric) for t, m in inputs]
        if all(c is not None and c > 0 for c in costs):
            break
    else:
        raise Skip("the backend measures neither FLOPs, memory nor time for this model")
    costs_f = [float(c) for c in costs]  # type: ignore[arg-type]
    p, overall = _growth_exponent(lengths, costs_f)
    limit = exponent + ALLOWANCE[metric]
    measured = {
        "metric": metric, "lengths": lengths, "costs": costs_f, "exponent": p, "overall_exponent": overall,
        "declared": declared, "declared_exponent": exponent, "limit": limit,
    }
    if ctx.card.flops is not None:
        cfg = ctx.default_config()
        measured["analytic_flops"] = [float(ctx.card.flops(cfg, 1, n)) for n in lengths]
    ratio = costs_f[2] / costs_f[0]
    what = f"{metric} from L={lengths[0]} to L={lengths[2]} grew {ratio:.3g}x (growth exponent {p:.2f})"
    if p > limit:
        msg = f"declares {declared} (exponent {exponent:g}) but {what}, above {limit:.2f}"
        if metric == "time":
            return warned(msg + "; wall time on this device is noisy, so this is a warning", **measured)
        return failed(msg, **measured)
    return passed(f"declares {declared}; {what} (limit {limit:.2f})", **measured)


def parameter_budget(ctx: CheckContext, config: EncoderConfig | None = None, max_length: int | None = None) -> Outcome:
    """Encoder parameters against ``<framework>/transformer`` at the same shared config.

    Public for ``lra-run``, which calls it with the task's real config (builds only, no forward).
    """
    ref_id = f"{ctx.card.framework}/transformer"
    if ref_id not in ctx.registry.models:
        raise Skip(f"no reference Transformer {ref_id} is registered")
    reference = ctx.registry.models[ref_id]
    config = config if config is not None else ctx.default_config()
    kwargs = {"max_length": max_length} if max_length is not None else {}
    mine = ctx.build(config=config, **kwargs).num_params(encoder_only=True)
    if ctx.card.id == ref_id:
        theirs = mine
    else:
        theirs = ctx.build(card=reference, config=reference_config(config), **kwargs).num_params(encoder_only=True)
    ratio = mine / theirs if theirs else float("inf")
    measured = {"params": mine, "reference_params": theirs, "reference": ref_id, "ratio": ratio}
    what = f"{mine:,} encoder parameters vs {theirs:,} for {ref_id} at d_model={config.d_model} ({ratio:.1%})"
    if ratio > 1.10:
        return warned(f"{what}: more than 10% larger than the reference (LRA's apples-to-apples rule)", **measured)
    return passed(what, **measured)


@check("param_budget", "parameters within 110% of the same framework's reference Transformer (warning)", fast=False)
def param_budget(ctx: CheckContext) -> Outcome:
    return parameter_budget(ctx)
