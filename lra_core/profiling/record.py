"""The profile record: one (model, length) measurement as self-describing JSON.

A record says what was measured (model, resolved task setting, protocol), how (backend, device,
memory counter, environment), the raw step times and their statistics, FLOPs with their provenance,
and the outcome (``ok``, ``oom``, ``error``, ``timeout``, ``skipped``). Reports read these files;
nothing is re-run.
"""

from __future__ import annotations

import json
import os
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError

from ..environment import environment
from ..errors import UserError
from ..io import write_json_atomic
from ..specs import format_validation_error
from .protocol import ProfileProtocol
from .stats import TimingStats

PROFILE_SCHEMA_VERSION = 1
ProfileStatus = Literal["ok", "oom", "error", "timeout", "skipped"]


class _Strict(BaseModel):
    model_config = ConfigDict(extra="forbid")


class ProfileModel(_Strict):
    #: As requested (``framework/name``); framework/name are None if the card never resolved.
    id: str
    framework: str | None = None
    name: str | None = None
    distribution: str | None = None
    version: str | None = None
    config: dict[str, Any] = Field(default_factory=dict)
    num_params: int | None = None


class ProfileTask(_Strict):
    id: str
    preset: str
    #: The profiled length (the task's ``max_length`` override) and what the encoder sees (+CLS).
    length: int
    model_length: int | None = None
    batch_size: int
    input: str | None = None
    #: Hash of the resolved task at this length (``ResolvedTask.spec_hash``).
    spec_hash: str | None = None
    #: Hash of everything but the length: resolved task, model config, batch size, precision.
    #: Rows of one efficiency table share it across lengths.
    setting_hash: str | None = None


class ProfileTimings(_Strict):
    build_seconds: float | None = None
    #: The first train step on its own: tracing + compilation (JAX) + first-call overheads.
    first_step_seconds: float | None = None
    #: Compile time reported apart: the backend's own figure when it exposes one, else the first
    #: step minus the steady-state median (``compile_source`` says which).
    compile_seconds: float | None = None
    compile_source: str | None = None
    warmup_seconds: list[float] = Field(default_factory=list)
    #: Raw seconds of every measured step, one list per repeat.
    step_seconds: list[list[float]] = Field(default_factory=list)
    stats: TimingStats | None = None
    steps_per_second: float | None = None
    examples_per_second: float | None = None


class ProfileMemory(_Strict):
    peak_bytes: int | None = None
    #: Which counter the backend read (e.g. CUDA max_memory_allocated, process RSS delta).
    counter: str | None = None
    window: str = "all train steps (first call, warm-up, measured); model build excluded"


class ProfileFlops(_Strict):
    analytic_forward: float | None = None
    analytic_step: float | None = None
    analytic_rule: str | None = None
    counted_step: float | None = None
    counted_by: str | None = None
    device_peak_flops: float | None = None
    #: Model FLOPs utilisation from the analytic step FLOPs (None without a formula or known peak).
    mfu: float | None = None


class ProfileRecord(_Strict):
    schema_version: int = PROFILE_SCHEMA_VERSION
    kind: Literal["profile"] = "profile"
    created: str
    #: Records of one ``lra-profile`` invocation share it; ratios use the same invocation's baseline.
    invocation_id: str
    status: ProfileStatus
    model: ProfileModel
    task: ProfileTask
    protocol: ProfileProtocol
    timings: ProfileTimings = ProfileTimings()
    memory: ProfileMemory = ProfileMemory()
    flops: ProfileFlops = ProfileFlops()
    final_loss: float | None = None
    device: dict[str, Any] = Field(default_factory=dict)
    backend: dict[str, Any] = Field(default_factory=dict)
    environment: dict[str, Any] = Field(default_factory=dict)
    error: str | None = None
    warnings: list[str] = Field(default_factory=list)
    worker: dict[str, Any] = Field(default_factory=dict)

    @property
    def ok(self) -> bool:
        return self.status == "ok"


class ProfileSet(_Strict):
    """What ``lra-profile --json`` writes: every record of one invocation."""

    schema_version: int = PROFILE_SCHEMA_VERSION
    kind: Literal["profile-set"] = "profile-set"
    invocation_id: str
    created: str
    protocol: ProfileProtocol
    environment: dict[str, Any] = Field(default_factory=dict)
    records: list[ProfileRecord]


def write_profile(path: str | Path, record: ProfileRecord | ProfileSet) -> None:
    write_json_atomic(path, record.model_dump(mode="json"))


def parse_profile(raw: Any, where: str) -> list[ProfileRecord]:
    """Records from a parsed JSON object of kind ``profile`` or ``profile-set``."""
    kind = raw.get("kind") if isinstance(raw, dict) else None
    try:
        if kind == "profile":
            return [ProfileRecord.model_validate(raw)]
        if kind == "profile-set":
            return list(ProfileSet.model_validate(raw).records)
    except ValidationError as e:
        raise UserError(format_validation_error(e, where)) from None
    raise UserError(f"{where}: not a profile record (kind {kind!r}; expected 'profile' or 'profile-set')")


def read_profile(path: str | Path) -> list[ProfileRecord]:
    path = Path(path)
    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UserError(f"{path}: profile file not found") from None
    except json.JSONDecodeError as e:
        raise UserError(f"{path}: not valid JSON (line {e.lineno}): {e.msg}") from None
    return parse_profile(raw, str(path))


#: Thread-count variables recorded with every profile (pin them for comparable CPU numbers).
THREAD_ENV = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS", "XLA_FLAGS", "CUDA_VISIBLE_DEVICES")


def now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _split_id(model: str) -> dict[str, str]:
    framework, sep, name = model.partition("/")
    return {"framework": framework, "name": name} if sep else {}


def base_record(model: str, length: int, protocol: ProfileProtocol, invocation_id: str) -> ProfileRecord:
    """A record with what is known before anything runs (the runner uses it for dead workers)."""
    return ProfileRecord(
        created=now(),
        invocation_id=invocation_id,
        status="error",
        model=ProfileModel(id=model, **_split_id(model)),
        task=ProfileTask(id=protocol.task, preset=protocol.preset, length=length, batch_size=protocol.batch_size),
        protocol=protocol,
        environment={**environment(), "threads": {k: os.environ.get(k) for k in THREAD_ENV}},
    )


