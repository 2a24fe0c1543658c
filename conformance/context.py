"""What every check shares for one model: the backend, cached builds, inputs and tolerances.

Checks see a model only through the backend primitives (``build``, ``encode``, ``export_params`` ...)
and compare NumPy arrays, so one check serves every framework. Builds are cached per (config,
inputs, seed) so that a suite run builds the default model once.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from typing import Any

import numpy as np

from lra_core import Backend, EncoderConfig, EncoderInputs, ModelCard, ModelHandle, Registry

#: Vocabulary of the synthetic inputs (token ids are drawn uniformly from it).
VOCAB_SIZE = 32
#: Sequence length of the comparison checks. A multiple of common block sizes, so a model that only
#: fails on odd lengths fails ``output_lengths`` and nothing else.
BASE_LENGTH = 64
#: ``EncoderInputs.max_length`` of the default build (room for appended padding).
BASE_MAX_LENGTH = 128
#: Longest length the suite runs on CPU-sized budgets, even when a card declares more.
MAX_CHECKED_LENGTH = 4096

#: (relative-to-RMS, absolute) tolerance of "unchanged" per precision. Real violations move the
#: outputs by O(0.01 .. 1); float reassociation across batch sizes and lengths by ~1e-6.
TOLERANCES = {"fp32": (1e-4, 1e-6), "bf16": (5e-2, 1e-3)}


class Skip(Exception):
    """Raised by a check that cannot be judged (the reason names the check that explains why)."""


@dataclass(frozen=True)
class Diff:
    """Largest absolute difference between two arrays and where it is."""

    value: float
    index: tuple[int, ...]
    tolerance: float

    @property
    def exceeds(self) -> bool:
        return not self.value <= self.tolerance  # NaN exceeds

    def where(self) -> str:
        if len(self.index) >= 2:
            return f"example {self.index[0]}, position {self.index[1]}"
        return f"index {self.index}"

    def describe(self) -> str:
        return f"max |diff| {self.value:.3g} at {self.where()} (tolerance {self.tolerance:.1g})"


class CheckContext:
    """One model under test on one backend instance."""

    def __init__(
        self,
        card: ModelCard,
        registry: Registry,
        *,
        device: str = "cpu",
        precision: str = "fp32",
    ) -> None:
        self.card = card
        self.registry = registry
        self.device = device
        self.precision = precision
        self._backend: Backend | None = None
        self._handles: dict[tuple[Any, ...], ModelHandle] = {}
        self._errors: dict[tuple[Any, ...], BaseException] = {}
        self._floor: str | None | bool = False  # False: not measured yet
        self._scratch: dict[int, ModelHandle] = {}
        self._initial: dict[int, dict[str, np.ndarray]] = {}

    # ---- backend and builds -------------------------------------------------------------------
    @property
    def backend(self) -> Backend:
        if self._backend is None:
            cls = self.registry.backend(self.card.framework)
            self._backend = cls(device=self.device, precision=self.precision)  # type: ignore[arg-type]
        return self._backend

    def default_config(self) -> EncoderConfig:
        return self.card.config()

    @property
    def max_length(self) -> int | None:
        """The card's declared largest length (None: unbounded)."""
        return self.card.capabilities.max_length

    def clamp(self, length: int) -> int:
        cap = self.max_length
        return length if cap is None else min(length, cap)

    def inputs(self, max_length: int = BASE_MAX_LENGTH) -> EncoderInputs:
        return EncoderInputs(vocab_size=VOCAB_SIZE, max_length=self.clamp(max_length))

    def build(
        self,
        *,
        config: EncoderConfig | None = None,
        max_length: int = BASE_MAX_LENGTH,
        seed: int = 0,
        card: ModelCard | None = None,
        cached: bool = True,
    ) -> ModelHandle:
        """A built model; cached ones are shared between checks, so checks must not mutate them."""
        card = card or self.card
        config = config if config is not None else card.config()
        inputs = self.inputs(max_length)
        key = (card.id, config.model_dump_json(), inputs.model_dump_json(), seed)
        if cached and key in self._handles:
            return self._handles[key]
        if cached and key in self._errors:
            raise self._errors[key]
        try:
            handle = self.backend.build(card, config, inputs, seed=seed)
        except Exception as exc:
            if cached:
                self._errors[key] = exc
            raise
        if cached:
            self._handles[key] = handle
        return handle

    def handle(self) -> ModelHandle:
        """The default model: default config, base inputs, seed 0. Never mutated by a check."""
        return self.build()

    def scratch(self, seed: int) -> ModelHandle:
        """A default-config model of ``seed`` that checks may overwrite with ``import_params``.

        Checks that use it import every parameter first, so they do not depend on each other's
        order; sharing it saves a build (and, in JAX, its compilations) per check.
        """
        if seed not in self._scratch:
            handle = self.build(seed=seed, cached=False)
            self._initial[seed] = handle.export_params()
            self._scratch[seed] = handle
        return self._scratch[seed]

    def initial_params(self, seed: int) -> dict[str, np.ndarray]:
        """Parameters of :meth:`scratch` (``seed``) as built, before any check overwrote them."""
        self.scratch(seed)
        return self._initial[seed]

    # ---- inputs and outputs ---------------------------------------------------------------------
    @staticmethod
    def rng(purpose: str) -> np.random.Generator:
        """A generator seeded from the purpose's name: every run draws the same inputs."""
        return np.random.default_rng(zlib.crc32(purpose.encode()))

    def tokens(self, purpose: str, batch: int, length: int) -> np.ndarray:
        return self.rng(purpose).integers(0, VOCAB_SIZE, size=(batch, length), dtype=np.int64).astype(np.int32)

    @staticmethod
    def mask(lengths: list[int], length: int) -> np.ndarray:
        """bool [B, L], True on the first ``lengths[i]`` positions of example i."""
        return np.arange(length)[None, :] < np.asarray(lengths)[:, None]

    @staticmethod
    def different_tokens(tokens: np.ndarray, rng: np.random.Generator) -> np.ndarray:
        """Tokens that differ from ``tokens`` at every position."""
        shift = rng.integers(1, VOCAB_SIZE, size=tokens.shape)
        return ((tokens.astype(np.int64) + shift) % VOCAB_SIZE).astype(np.int32)

    def encode(
        self,
        handle: ModelHandle,
        tokens: np.ndarray,
        mask: np.ndarray,
        *,
        train: bool = False,
        seed: int = 0,
    ) -> np.ndarray:
        """Encoder outputs as a NumPy array; the model gets copies, so the caller's arrays stay put."""
        out = handle.encode(tokens.copy(), mask.copy(), train=train, seed=seed)
        return np.asarray(out)

    # ---- comparisons ----------------------------------------------------------------------------
    def tolerance(self, reference: np.ndarray) -> float:
        rtol, atol = TOLERANCES.get(self.precision, TOLERANCES["fp32"])
        ref = np.asarray(reference, dtype=np.float64)
        rms = float(np.sqrt(np.mean(ref**2))) if ref.size else 0.0
        return rtol * (rms if np.isfinite(rms) else 1.0) + atol

    def diff(self, a: np.ndarray, b: np.ndarray, where: np.ndarray | None = None) -> Diff:
        """Largest |a - b| over positions where ``where`` [B, L] is True (all when None)."""
        a64 = np.asarray(a, dtype=np.float64)
        b64 = np.asarray(b, dtype=np.float64)
        if a64.shape != b64.shape:
            raise ValueError(f"cannot compare outputs of shapes {a64.shape} and {b64.shape}")
        # Non-finite values are output_contract's business: the same NaN/inf on both sides is no
        # difference, a NaN on one side only is an infinite one.
        same = (a64 == b64) | (np.isnan(a64) & np.isnan(b64))
        d = np.where(same, 0.0, np.abs(a64 - b64))
        d = np.where(np.isnan(d), np.inf, d)
        if where is not None:
            d = np.where(where[..., None], d, 0.0)
            ref = a64[where]
        else:
            ref = a64
        tol = self.tolerance(ref)
        if d.size == 0:
            return Diff(0.0, (), tol)
        idx = np.unravel_index(int(np.argmax(d)), d.shape)
        return Diff(float(d[idx]), tuple(int(i) for i in idx), tol)

    # ---- preconditions of comparison checks -----------------------------------------------------
    def require_comparable(self) -> None:
        """Skip a comparison check when the model's eval outputs are not finite or not repeatable.

        Those are other rules (``output_contract``, ``eval_determinism``); judging batch or padding
        invariance on noise would only repeat that failure under another name.
        """
        if self._floor is False:
            self._floor = self._measure_floor()
        if self._floor:
            raise Skip(str(self._floor))

    def _measure_floor(self) -> str | None:
        problem = self.repeatability(self.handle(), "floor")
        return f"cannot judge: {problem} (see eval_determinism)" if problem else None

    def repeatability(self, handle: ModelHandle, purpose: str) -> str | None:
        """Why eval outputs are not repeatable, or None: two calls, two seeds, twin examples.

        Twin examples matter in torch, whose backend replays the same RNG state on every eval call:
        dropout left on in eval then gives equal calls but different masks for equal examples.
        """
        length = self.clamp(BASE_LENGTH)
        single = self.tokens(purpose, 1, length)
        tokens = np.concatenate([single, single])
        mask = np.ones_like(tokens, dtype=bool)
        first = self.encode(handle, tokens, mask, seed=0)
        if not np.all(np.isfinite(first)):
            return None  # output_contract's business; comparisons treat equal NaNs as equal
        twins = self.diff(first[:1], first[1:])
        if twins.exceeds:
            return f"two identical examples in one batch [2, {length}] got different outputs, {twins.describe()}"
        for label, seed in (("a second call", 0), ("a call with seed 1", 1)):
            d = self.diff(first, self.encode(handle, tokens, mask, seed=seed))
            if d.exceeds:
                return f"tokens [2, {length}], train=False: eval outputs differ from {label}, {d.describe()}"
        return None
