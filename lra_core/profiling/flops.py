"""FLOPs per train step and model FLOPs utilisation (MFU).

Two kinds of numbers, never mixed:

- *analytic*: the model card's ``flops(config, batch, length)`` formula for one encoder forward,
  times 3 for a train step (backward costs about twice the forward; the PaLM/nanoGPT convention).
  It is implementation-independent, so it is the one MFU is computed from and the one comparable
  across frameworks.
- *counted*: what the framework's own counter reports (torch ``FlopCounterMode``, JAX
  ``cost_analysis``), labelled as counted. Counters disagree (unsupported ops count zero in torch,
  XLA counts element-wise ops), so they are diagnostics with their provenance recorded.
"""

from __future__ import annotations

from typing import Any, Callable, Mapping

#: Backward pass ~ 2x forward, so a train step ~ 3x the forward FLOPs.
TRAIN_STEP_FACTOR = 3.0

#: Dense peak FLOP/s per device by precision, from the vendors' data sheets (no sparsity).
#: fp32 is the plain FP32 (non-tensor-core) rate: TF32 is not assumed.
#: Keys are matched, longest first, as case-insensitive substrings of the device name.
DEVICE_PEAK_FLOPS: dict[str, dict[str, float]] = {
    "h200": {"bf16": 989.4e12, "fp32": 66.9e12},
    "h100 pcie": {"bf16": 756.0e12, "fp32": 51.2e12},
    "h100": {"bf16": 989.4e12, "fp32": 66.9e12},
    "a100": {"bf16": 312.0e12, "fp32": 19.5e12},
    "l40s": {"bf16": 362.05e12, "fp32": 91.6e12},
    "l4": {"bf16": 121.0e12, "fp32": 30.3e12},
    "a10g": {"bf16": 70.0e12, "fp32": 31.2e12},
    "v100": {"fp32": 15.7e12},
    "tpu v3": {"bf16": 123.0e12},
    "tpu v4": {"bf16": 275.0e12},
    "tpu v5e": {"bf16": 197.0e12},
}


def device_peak_flops(device: Mapping[str, Any], precision: str) -> float | None:
    """Peak FLOP/s of one device of ``device`` (a ``describe_device()`` dict), or None if unknown."""
    name = " ".join(
        str(device.get(k) or "") for k in ("name", "device_name", "kind", "device_kind")
    ).lower()
    if not name.strip():
        return None
    for key in sorted(DEVICE_PEAK_FLOPS, key=len, reverse=True):
        if key in name:
            return DEVICE_PEAK_FLOPS[key].get(precision)
    return None


def analytic_forward_flops(
    formula: Callable[..., float] | None, config: Any, sequences: int, length: int
) -> float | None:
    """The card's formula for ``sequences`` sequences of ``length`` tokens (None without one)."""
    if formula is None:
        return None
    value = float(formula(config, sequences, length))
    if not value > 0:
        raise ValueError(f"model card flops formula returned {value!r}; it must be positive")
    return value


def analytic_step_flops(forward_flops: float | None) -> float | None:
    return None if forward_flops is None else TRAIN_STEP_FACTOR * forward_flops


def mfu(step_flops: float | None, steps_per_second: float | None, peak_flops: float | None) -> float | None:
    """Achieved FLOP/s over the device's peak, in [0, 1] for a sane measurement."""
    if not step_flops or not steps_per_second or not peak_flops:
        return None
    return step_flops * steps_per_second / peak_flops
