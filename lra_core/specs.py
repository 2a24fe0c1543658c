"""Task specs: the declarative TOML schema every task folder carries (public API).

A spec names the task's inputs, classes, pooling, data sources and split sizes, and per preset the
shared encoder dimensions and training settings. Presets:

- ``code``: the released LRA configs;
- ``paper``: where the LRA paper states otherwise;
- ``smoke``: tiny, for CPU and CI.
"""

from __future__ import annotations

import hashlib
import json
import tomllib
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, model_validator

from .errors import UserError

PRESETS = ("code", "paper", "smoke")


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class TrainingSettings(_Strict):
    """Optimisation and evaluation settings of one preset (LRA's per-task config)."""

    batch_size: int = Field(32, ge=1)
    num_train_steps: int = Field(5000, ge=1)
    learning_rate: float = Field(0.05, gt=0)
    #: LRA's ``factors`` string, a product of constant, linear_warmup, rsqrt_decay, cosine_decay.
    schedule: str = "constant*linear_warmup*rsqrt_decay"
    warmup_steps: int = Field(1000, ge=0)
    #: Cosine cycle length; ``None`` means the whole run.
    steps_per_cycle: int | None = Field(None, ge=1)
    weight_decay: float = Field(0.1, ge=0)
    beta1: float = 0.9
    beta2: float = 0.98
    eps: float = 1e-9
    grad_clip_norm: float | None = Field(None, gt=0)
    eval_every: int = Field(50, ge=1)
    #: Batches per evaluation; ``None`` evaluates the whole split (LRA's 99999 / -1).
    num_eval_batches: int | None = Field(None, ge=1)
    #: Batches of the final test evaluation; ``None`` is the whole test split.
    num_test_batches: int | None = Field(None, ge=1)
    checkpoint_every: int | None = Field(None, ge=1, description="None: at every evaluation")

    @model_validator(mode="after")
    def _known_factors(self) -> "TrainingSettings":
        known = {"constant", "linear_warmup", "rsqrt_decay", "cosine_decay"}
        factors = [f.strip() for f in self.schedule.split("*")]
        bad = [f for f in factors if f not in known]
        if bad:
            raise ValueError(f"schedule: unknown factor(s) {bad}; use a product of {sorted(known)}")
        return self


class EncoderDims(_Strict):
    """Shared encoder dimensions a preset fixes (the fields of ``EncoderConfig``)."""

    d_model: int = Field(ge=1)
    num_heads: int = Field(ge=1)
    num_layers: int = Field(ge=1)
    mlp_dim: int = Field(ge=1)
    qkv_dim: int = Field(ge=1)
    dropout: float = Field(0.1, ge=0, lt=1)
    attention_dropout: float = Field(0.1, ge=0, lt=1)
    positional: Literal["sinusoidal", "learned", "none"] = "sinusoidal"


class Preset(_Strict):
    max_length: int | None = Field(None, ge=1)
    pooling: Literal["cls", "mean"] | None = None
    encoder: EncoderDims
    training: TrainingSettings
    splits: dict[str, int] | None = None
    note: str = ""


class TaskSpec(_Strict):
    """A task, as declared in ``task_specs/<task>/spec.toml``."""

    id: str
    version: int = Field(ge=1)
    title: str
    description: str = ""
    input: Literal["single", "pair"] = "single"
    num_classes: int = Field(ge=2)
    pooling: Literal["cls", "mean"]
    vocab_size: int = Field(ge=2, description="size including pad and, when used, CLS")
    pad_id: int = 0
    cls_id: int | None = None
    #: Token strings in id order, for tasks with a symbolic vocabulary (ListOps).
    vocabulary: list[str] | None = None
    max_length: int = Field(ge=1)
    sources: list[str] = Field(min_length=1)
    default_source: str
    splits: dict[str, int]
    #: How the validation split is made (e.g. "IMDB test set, as LRA did").
    validation_note: str = ""
    #: LRA paper Table 1 test accuracies (%) by model name; ``None`` means FAIL.
    reference: dict[str, float | None] = Field(default_factory=dict)
    presets: dict[str, Preset]
    deviations: list[str] = Field(default_factory=list, description="where we differ from LRA, and why")
    #: Part of the suite ``lra-run --task all`` runs (LRA's six tasks; variants are run by name).
    suite: bool = True

    @model_validator(mode="after")
    def _consistent(self) -> "TaskSpec":
        if self.default_source not in self.sources:
            raise ValueError(f"default_source {self.default_source!r} is not in sources {self.sources}")
        needs_cls = self.pooling == "cls" or any(p.pooling == "cls" for p in self.presets.values())
        if needs_cls and self.cls_id is None:
            raise ValueError("cls_id is required when a preset pools by CLS")
        for name, tid in (("pad_id", self.pad_id), ("cls_id", self.cls_id)):
            if tid is not None and not 0 <= tid < self.vocab_size:
                raise ValueError(f"{name} {tid} is outside the vocabulary [0, {self.vocab_size})")
        if self.vocabulary is not None and len(self.vocabulary) != self.vocab_size:
            raise ValueError(
                f"vocabulary lists {len(self.vocabulary)} tokens but vocab_size is {self.vocab_size}"
            )
        missing = [p for p in ("smoke",) if p not in self.presets]
        if missing:
            raise ValueError(f"presets: missing {missing}; every task needs a smoke preset")
        for split in ("train", "validation", "test"):
            if split not in self.splits:
                raise ValueError(f"splits: missing {split!r}")
        return self

    def preset(self, name: str) -> Preset:
        if name not in self.presets:
            raise UserError(
                f"--preset: task {self.id!r} has no preset {name!r}; choose one of {sorted(self.presets)}"
            )
        return self.presets[name]

    def resolved(self, preset: str) -> "ResolvedTask":
        p = self.preset(preset)
        return ResolvedTask(
            task=self.id,
            version=self.version,
            preset=preset,
            input=self.input,
            num_classes=self.num_classes,
            pooling=p.pooling or self.pooling,
            vocab_size=self.vocab_size,
            pad_id=self.pad_id,
            cls_id=self.cls_id,
            max_length=p.max_length or self.max_length,
            splits=p.splits or dict(self.splits),
            encoder=p.encoder,
            training=p.training,
        )


class ResolvedTask(_Strict):
    """A task with one preset applied and any overrides folded in: what a run actually uses."""

    task: str
    version: int
    preset: str
    input: Literal["single", "pair"]
    num_classes: int
    pooling: Literal["cls", "mean"]
    vocab_size: int
    pad_id: int
    cls_id: int | None
    max_length: int
    splits: dict[str, int]
    encoder: EncoderDims
    training: TrainingSettings

    @property
    def model_length(self) -> int:
        """Sequence length the encoder sees: CLS pooling prepends one token."""
        return self.max_length + (1 if self.pooling == "cls" else 0)

    def spec_hash(self) -> str:
        """Stable hash of everything that defines the task setting (keys sorted)."""
        blob = json.dumps(self.model_dump(mode="json"), sort_keys=True, separators=(",", ":"))
        return hashlib.sha256(blob.encode()).hexdigest()[:16]


def format_validation_error(err: ValidationError, where: str) -> str:
    """One line: ``<where>: field a.b.c: reason`` for the first error (count of the rest)."""
    errors = err.errors()
    first = errors[0]
    loc = ".".join(str(p) for p in first["loc"]) or "(top level)"
    msg = first["msg"].removeprefix("Value error, ")
    more = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
    return f"{where}: field {loc}: {msg}{more}"


def load_task_spec(path: str | Path) -> TaskSpec:
    """Read and validate a TOML spec; errors name the file, field and reason."""
    path = Path(path)
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: task spec not found") from None
    except tomllib.TOMLDecodeError as e:
        raise UserError(f"{path}: invalid TOML: {e}") from None
    return parse_task_spec(raw, where=str(path))


def parse_task_spec(raw: dict[str, Any], where: str = "<spec>") -> TaskSpec:
    try:
        return TaskSpec.model_validate(raw)
    except ValidationError as e:
        raise UserError(format_validation_error(e, where)) from None
