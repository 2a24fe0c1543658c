"""The run result record: self-describing JSON written at the end (and on every status change)."""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from .errors import UserError
from .io import write_json_atomic
from .specs import format_validation_error

RESULT_SCHEMA_VERSION = 1
Status = Literal["running", "completed", "failed", "interrupted", "diverged"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ModelInfo(_Strict):
    id: str
    framework: str
    name: str
    distribution: str | None
    version: str | None
    config: dict[str, Any]
    num_params: int | None = None
    reference_num_params: int | None = Field(None, description="torch/jax reference Transformer, same task config")


class TaskInfo(_Strict):
    id: str
    preset: str
    spec_hash: str
    resolved: dict[str, Any]
    source: str
    data_path: str | None = None
    validation_note: str = ""


class EvalMetrics(_Strict):
    accuracy: float
    loss: float
    examples: int


class Metrics(_Strict):
    validation: EvalMetrics | None = None
    #: LRA's protocol: the test split evaluated on the last checkpoint.
    test: EvalMetrics | None = None
    best_step: int | None = None
    best_validation: EvalMetrics | None = None
    #: Reported apart: the test split on the best-validation checkpoint.
    test_at_best: EvalMetrics | None = None
    final_train_loss: float | None = None


class Timings(_Strict):
    steps_per_second: float | None = None
    train_seconds: float | None = None
    eval_seconds: float | None = None
    compile_seconds: float | None = None
    wall_seconds: float | None = None


class RunResult(_Strict):
    schema_version: int = RESULT_SCHEMA_VERSION
    kind: Literal["run"] = "run"
    run_id: str
    created: str
    updated: str
    status: Status
    model: ModelInfo
    task: TaskInfo
    seed: int
    steps_completed: int = 0
    num_train_steps: int
    diverged_at_step: int | None = None
    error: str | None = None
    metrics: Metrics = Metrics()
    timings: Timings = Timings()
    peak_memory_bytes: int | None = None
    backend: dict[str, Any] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    overrides: dict[str, Any] = Field(default_factory=dict)
    conformance: dict[str, Any] = Field(default_factory=dict)
    #: Where this run deliberately differs from the original LRA, each with its reason.
    deviations: list[str] = Field(default_factory=list)
    #: Things a reader should know that do not invalidate the run (e.g. the parameter budget).
    warnings: list[str] = Field(default_factory=list)
    curve: str = "curve.jsonl"


def write_result(path: str | Path, result: RunResult) -> None:
    write_json_atomic(path, result.model_dump(mode="json"))


def read_result(path: str | Path) -> RunResult:
    import json

    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: result file not found") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON (line {e.lineno}): {e.msg}") from None
    try:
        return RunResult.model_validate(raw)
    except ValidationError as e:
        raise UserError(format_validation_error(e, str(path))) from None
