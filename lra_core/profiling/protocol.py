"""What a profile measures and how: one definition, carried out by each backend's primitives."""

from __future__ import annotations

from typing import Literal

from pydantic import BaseModel, ConfigDict, Field


class ProfileProtocol(BaseModel):
    """LRA Table 2: steps/s and peak memory of a full train step at 1K-4K, batch 32, byte text.

    The timed region is one full train step (forward, backward, optimizer update), with a device
    sync at both edges. Each (model, length) runs in a fresh subprocess.
    """

    model_config = ConfigDict(extra="forbid")

    lengths: list[int] = Field(default_factory=lambda: [1024, 2048, 3072, 4096], min_length=1)
    batch_size: int = Field(32, ge=1)
    task: str = "text"
    preset: str = "code"
    warmup_steps: int = Field(3, ge=0)
    measured_steps: int = Field(10, ge=1)
    repeats: int = Field(3, ge=1)
    precision: Literal["fp32", "bf16"] = "fp32"
    noise_threshold: float = Field(0.10, gt=0, description="IQR/median above this is flagged noisy")
    timed_region: Literal["train_step"] = "train_step"
