"""Model cards: what a model plugin registers, and the encoder contract's input description.

These are public API. Third-party plugins construct them, so field names and defaults are stable.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

#: Complexity classes a card may declare. Extendable with :func:`register_complexity`.
COMPLEXITY_EXPONENTS: dict[str, float] = {
    # Expected growth exponent of attention cost in sequence length (cost ~ L**p).
    "linear": 1.0,
    "nlogn": 1.0,  # L log L is checked as ~linear with a log allowance
    "nsqrtn": 1.5,
    "quadratic": 2.0,
}

_SLUG = re.compile(r"^[a-z0-9][a-z0-9_.-]*$")


def register_complexity(name: str, exponent: float) -> None:
    """Add a complexity class (e.g. ``"nlog2n"``) with its expected growth exponent."""
    if not _SLUG.match(name):
        raise ValueError(f"complexity class {name!r} must be a lowercase slug")
    COMPLEXITY_EXPONENTS[name] = float(exponent)


class Capabilities(BaseModel):
    """What an encoder can do; the conformance suite decides which checks apply from this."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    padding_mask: bool = True
    complexity: str = "quadratic"
    max_length: int | None = None
    attention_maps: bool = False
    bf16: bool = False

    @field_validator("complexity")
    @classmethod
    def _known_complexity(cls, v: str) -> str:
        if v not in COMPLEXITY_EXPONENTS:
            known = ", ".join(sorted(COMPLEXITY_EXPONENTS))
            raise ValueError(f"unknown complexity {v!r}; use one of {known} or register_complexity()")
        return v

    @field_validator("max_length")
    @classmethod
    def _positive(cls, v: int | None) -> int | None:
        if v is not None and v < 1:
            raise ValueError("max_length must be a positive integer or None")
        return v


class EncoderConfig(BaseModel):
    """Shared encoder dimensions. Plugins subclass this to add their own hyperparameters.

    Defaults are small so that a model builds and runs in milliseconds on a CPU; the task spec's
    preset supplies LRA's real dimensions.
    """

    model_config = ConfigDict(extra="forbid", validate_assignment=True)

    d_model: int = Field(32, ge=1, description="model width (LRA: emb_dim)")
    num_heads: int = Field(2, ge=1)
    num_layers: int = Field(1, ge=1)
    mlp_dim: int = Field(64, ge=1)
    qkv_dim: int = Field(32, ge=1, description="total width of queries/keys/values over all heads")
    dropout: float = Field(0.1, ge=0.0, lt=1.0)
    attention_dropout: float = Field(0.1, ge=0.0, lt=1.0)
    positional: Literal["sinusoidal", "learned", "none"] = "sinusoidal"

    @field_validator("qkv_dim")
    @classmethod
    def _divisible(cls, v: int, info: Any) -> int:
        heads = info.data.get("num_heads")
        if heads and v % heads:
            raise ValueError(f"qkv_dim ({v}) must be divisible by num_heads ({heads})")
        return v

    @property
    def head_dim(self) -> int:
        return self.qkv_dim // self.num_heads


class EncoderInputs(BaseModel):
    """What the task tells the factory about its inputs."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    vocab_size: int = Field(ge=1)
    max_length: int = Field(ge=1)


class ModelCard(BaseModel):
    """A registered model: ``factory(config, inputs) -> module`` plus metadata.

    ``task_overrides`` maps a task id (or ``"<task>@<preset>"``) to the settings the released LRA
    configs use for this model on that task, as dotted keys (``{"model.num_layers": 4,
    "training.weight_decay": 0.7, "pooling": "mean"}``; see :mod:`lra_core.resolve`). ``expected_failures`` maps a conformance check id
    to the reason the model is known to fail it (listed in reports, never silent). ``flops`` is an
    optional analytic formula ``flops(config, batch, length) -> float`` for one forward pass.
    """

    model_config = ConfigDict(extra="forbid", arbitrary_types_allowed=True, frozen=True)

    name: str
    framework: str
    factory: Callable[..., Any]
    config: type[EncoderConfig] = EncoderConfig
    capabilities: Capabilities = Capabilities()
    description: str = ""
    reference: str | None = None
    task_overrides: dict[str, dict[str, Any]] = Field(default_factory=dict)
    expected_failures: dict[str, str] = Field(default_factory=dict)
    flops: Callable[..., float] | None = None

    @field_validator("name", "framework")
    @classmethod
    def _slug(cls, v: str) -> str:
        if not _SLUG.match(v):
            raise ValueError(f"{v!r} is not a slug (lowercase letters, digits, '_', '-', '.')")
        return v

    @field_validator("config")
    @classmethod
    def _config_class(cls, v: Any) -> Any:
        if not (isinstance(v, type) and issubclass(v, EncoderConfig)):
            raise ValueError("config must be a subclass of lra_core.EncoderConfig")
        return v

    @property
    def id(self) -> str:
        return f"{self.framework}/{self.name}"

    def overrides_for(self, task: str, preset: str) -> dict[str, Any]:
        """Per-task overrides, the preset-specific entry winning over the task-wide one."""
        merged: dict[str, Any] = {}
        merged.update(self.task_overrides.get(task, {}))
        merged.update(self.task_overrides.get(f"{task}@{preset}", {}))
        return merged
