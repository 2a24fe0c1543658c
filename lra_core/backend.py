"""The backend contract: what a framework plugin does for the core (public API).

The core owns the loop, schedule, data order, metrics, timing and results. A backend owns only what
must be framework-native: building and initialising a model, one train step, one eval step,
optimizer state, checkpoints, device synchronisation and memory statistics. The conformance suite
and the profiler use the same primitives, so they work for every framework a backend serves.

Canonical parameter names: ``export_params`` returns a flat dict of NumPy arrays whose names and
layouts are those of the PyTorch reference module's ``state_dict`` (parameters only; ``Linear``
weights are ``[out, in]``), prefixed ``encoder.`` for the encoder and ``head.`` for the task head.
Other frameworks convert to this layout, so parameters move between frameworks unchanged.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar, Literal, SupportsFloat

import numpy as np

from .batch import Batch
from .cards import EncoderConfig, EncoderInputs, ModelCard
from .specs import ResolvedTask, TrainingSettings

Precision = Literal["fp32", "bf16"]


@dataclass(frozen=True)
class HeadSpec:
    """The task head the framework builds around the encoder (LRA's classifier)."""

    num_classes: int
    pooling: Literal["cls", "mean"]
    pair: bool
    #: Hidden width of the two-layer MLP classifier (LRA uses the encoder's mlp_dim).
    mlp_dim: int

    @classmethod
    def for_task(cls, task: ResolvedTask, mlp_dim: int) -> "HeadSpec":
        return cls(task.num_classes, task.pooling, task.input == "pair", mlp_dim)


@dataclass(frozen=True)
class OptimizerSettings:
    """Adam with decoupled weight decay as LRA applied it (``p <- p - lr * wd * p`` on all params)."""

    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-9
    weight_decay: float = 0.0
    grad_clip_norm: float | None = None

    @classmethod
    def from_training(cls, t: TrainingSettings) -> "OptimizerSettings":
        return cls(t.beta1, t.beta2, t.eps, t.weight_decay, t.grad_clip_norm)


class OutOfMemory(RuntimeError):
    """Raised (or translated to) by a backend when the device runs out of memory."""


class ModelHandle(abc.ABC):
    """A built, initialised model (encoder, optional head, optimizer state) on one backend."""

    @abc.abstractmethod
    def train_step(self, batch: Batch, lr: float) -> SupportsFloat:
        """One optimisation step at learning rate ``lr``; returns the mean loss.

        The result may be a device scalar: ``float(result)`` synchronises, so the loop decides when
        to pay for that.
        """

    @abc.abstractmethod
    def eval_step(self, batch: Batch) -> np.ndarray:
        """Logits ``float32 [B, num_classes]`` in eval mode (no dropout)."""

    @abc.abstractmethod
    def encode(self, tokens: np.ndarray, mask: np.ndarray, *, train: bool = False, seed: int = 0) -> np.ndarray:
        """Encoder outputs ``[B, L, d_model]`` as NumPy (float32 unless precision says otherwise)."""

    @abc.abstractmethod
    def export_params(self) -> dict[str, np.ndarray]:
        """All trainable parameters under canonical names (see module docstring)."""

    @abc.abstractmethod
    def import_params(self, params: dict[str, np.ndarray]) -> None:
        """Load parameters by canonical name; a missing, extra or misshapen entry is an error."""

    @abc.abstractmethod
    def save_checkpoint(self, directory: Path) -> None:
        """Write parameters, optimizer state and RNG state into ``directory`` (created)."""

    @abc.abstractmethod
    def load_checkpoint(self, directory: Path) -> None:
        """Restore exactly what :meth:`save_checkpoint` wrote."""

    @abc.abstractmethod
    def encoder_gradients(self, tokens: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        """Gradients of ``sum(mean-pooled encoder output)`` for every trainable encoder parameter."""

    @abc.abstractmethod
    def encode_preserves_inputs(self, tokens: np.ndarray, mask: np.ndarray) -> bool:
        """Run the encoder on native arrays and report whether they are unchanged afterwards."""

    def count_flops(self, tokens: np.ndarray, mask: np.ndarray, *, train_step: bool = False) -> float | None:
        """FLOPs of one encoder forward (or a full train step) as counted by the framework, if it can."""
        return None

    def num_params(self, encoder_only: bool = False) -> int:
        params = self.export_params()
        return int(
            sum(v.size for k, v in params.items() if not encoder_only or k.startswith("encoder."))
        )


class Backend(abc.ABC):
    """A framework backend. Subclasses set ``framework`` and implement the primitives."""

    framework: ClassVar[str]
    description: ClassVar[str] = ""

    def __init__(self, device: str = "auto", precision: Precision = "fp32", compile: bool = False) -> None:
        self.device_request = device
        self.precision: Precision = precision
        self.compile = compile

    @abc.abstractmethod
    def build(
        self,
        card: ModelCard,
        config: EncoderConfig,
        inputs: EncoderInputs,
        *,
        seed: int,
        head: HeadSpec | None = None,
        optimizer: OptimizerSettings | None = None,
    ) -> ModelHandle:
        """Build and seed-initialise ``card``'s model; with ``head`` a classifier around it."""

    @abc.abstractmethod
    def sync(self) -> None:
        """Block until all queued device work is done."""

    @abc.abstractmethod
    def reset_peak_memory(self) -> None:
        """Start a new peak-memory measurement window."""

    @abc.abstractmethod
    def peak_memory_bytes(self) -> int | None:
        """Peak memory since the last reset (device memory on accelerators, process RSS delta on CPU)."""

    @abc.abstractmethod
    def describe_device(self) -> dict[str, Any]:
        """Device kind, name, count, driver and framework versions."""

    def is_out_of_memory(self, exc: BaseException) -> bool:
        return isinstance(exc, (OutOfMemory, MemoryError))
