"""What a profile measures and how: one definition, carried out by each backend's primitives."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

PROTOCOL_VERSION = 1


class ProfileProtocol(BaseModel):
    """LRA Table 2: steps/s and peak memory of a full train step at 1K-4K, batch 32, byte text.

    The timed region is one full train step (forward, backward, optimizer update), with a device
    sync at both edges. Each (model, length) runs in a fresh subprocess. Per worker:

    1. build the model (untimed) on a synthetic batch of the task's shape;
    2. reset the peak-memory counter, then one *first call*, timed on its own: it includes tracing
       and compilation (JAX), so it is reported apart as the compile time;
    3. ``warmup_steps`` further steps, timed but not counted;
    4. ``repeats`` blocks of ``measured_steps`` steps, each step timed between two syncs; the median
       and IQR are over all measured steps, and every raw time is kept in the record;
    5. read the peak memory. The memory window spans every train step but not the build: on a CPU
       the allocator's cache would otherwise hide a warm step's allocations.
    """

    model_config = ConfigDict(extra="forbid")

    version: int = PROTOCOL_VERSION
    lengths: list[int] = Field(default_factory=lambda: [1024, 2048, 3072, 4096], min_length=1)
    batch_size: int = Field(32, ge=1)
    task: str = "text"
    preset: str = "code"
    warmup_steps: int = Field(3, ge=0)
    measured_steps: int = Field(10, ge=1)
    repeats: int = Field(3, ge=1)
    precision: Literal["fp32", "bf16"] = "fp32"
    device: str = "auto"
    compile: bool = Field(False, description="ask the backend to compile (torch.compile); JAX always jits")
    seed: int = 0
    noise_threshold: float = Field(0.10, gt=0, description="IQR/median above this is flagged noisy")
    timed_region: Literal["train_step"] = "train_step"
    count_flops: bool = Field(True, description="also ask the framework to count a step's FLOPs")
    #: Extra ``--set`` style overrides (``model.<field>``, ``training.<field>``) applied at resolve.
    overrides: dict[str, Any] = Field(default_factory=dict)
    #: CPU threads per worker (sets OMP/MKL/OPENBLAS_NUM_THREADS); None keeps the framework default.
    #: On a shared or small machine the default oversubscribes cores and can slow a step 10-50x.
    threads: int | None = Field(None, ge=1)
    timeout_s: float = Field(3600.0, gt=0, description="wall-clock limit of one worker process")

    @field_validator("lengths")
    @classmethod
    def _positive(cls, v: list[int]) -> list[int]:
        bad = [x for x in v if x < 1]
        if bad:
            raise ValueError(f"lengths must be positive integers, got {bad}")
        if len(set(v)) != len(v):
            raise ValueError(f"lengths contain duplicates: {v}")
        return v
