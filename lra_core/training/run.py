"""One run end to end: resolve -> data -> conformance -> backend.build -> loop -> RunResult.

:func:`plan_run` resolves everything that can be wrong in the user's input before any work starts;
:func:`execute` trains (or resumes) and writes the result record. Status changes are written
atomically: ``running`` at the start, then ``completed``, ``diverged``, ``interrupted`` or ``failed``.
"""

from __future__ import annotations

import importlib
import time
import traceback
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from ..backend import Backend, HeadSpec, ModelHandle, OptimizerSettings
from ..cards import EncoderConfig, EncoderInputs, ModelCard
from ..environment import environment
from ..errors import UserError
from ..plugins import Registry
from ..resolve import reference_config, resolve
from ..results import EvalMetrics, ModelInfo, RunResult, TaskInfo, Timings, read_result, write_result
from ..specs import ResolvedTask
from ..tasks import BuildRequest, Task
from .loop import LoopOutcome, LoopState, TrainLoop
from .rundir import RunDir, make_run_id

BEST_CHECKPOINT_DEVIATION = (
    "final test accuracy is also reported on the best-validation checkpoint (metrics.test_at_best); "
    "metrics.test follows LRA's protocol (last checkpoint)"
)


class RunFailed(Exception):
    """The model or backend raised during a run; the result record says ``failed``."""

    def __init__(self, run_dir: Path, error: str) -> None:
        super().__init__(error)
        self.run_dir = run_dir
        self.error = error


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C arrived twice (abort now); the record says ``interrupted`` and the run is resumable."""

    def __init__(self, run_dir: Path) -> None:
        super().__init__(str(run_dir))
        self.run_dir = run_dir


class ConformanceFailed(Exception):
    """The fast conformance checks failed; the run is refused (``--skip-conformance`` overrides)."""

    def __init__(self, model: str, failures: list[str]) -> None:
        super().__init__(f"{model} fails conformance: {'; '.join(failures)}")
        self.model = model
        self.failures = failures


@dataclass
class RunRequest:
    """What the user asked for; stored as ``run.json`` so ``--resume`` can rebuild the run."""

    model: str
    task: str
    preset: str = "code"
    sets: dict[str, Any] = field(default_factory=dict)
    seed: int = 0
    output: str = "results"
    device: str = "auto"
    precision: str = "fp32"
    compile: bool = False
    source: str | None = None
    data_path: str | None = None
    skip_conformance: bool = False
    plugin_modules: list[str] = field(default_factory=list)
    #: Seed of the data builder (generated tasks): fixed, so every training seed sees the same data.
    data_seed: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "RunRequest":
        known = set(cls.__dataclass_fields__)
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class Plan:
    """A request resolved against the registry: nothing here has touched data or a device."""

    request: RunRequest
    card: ModelCard
    task: Task
    resolved: ResolvedTask
    config: EncoderConfig
    backend_cls: type[Backend]
    source: str


def plan_run(request: RunRequest, registry: Registry) -> Plan:
    card = registry.model(request.model)
    task = registry.task(request.task)
    resolved, config = resolve(card, task, request.preset, request.sets)
    backend_cls = registry.backend(card.framework)
    source = request.source or task.spec.default_source
    if source not in task.spec.sources:
        raise UserError(f"--source: task {task.id!r} has no source {source!r}; choose one of {task.spec.sources}")
    if request.precision not in ("fp32", "bf16"):
        raise UserError(f"--precision {request.precision!r}: use fp32 or bf16")
    return Plan(request, card, task, resolved, config, backend_cls, source)


# ---- conformance -------------------------------------------------------------------------------
def run_conformance(card: ModelCard, registry: Registry, device: str, precision: str = "fp32") -> dict[str, Any]:
    """The fast conformance checks; raises :class:`ConformanceFailed` when the model fails them."""
    try:
        run_checks = importlib.import_module("lra_conformance").run_checks
    except (ImportError, AttributeError):
        return {"status": "unavailable", "reason": "lra_conformance is not importable"}
    report = run_checks(card, registry=registry, fast_only=True, device=device, precision=precision)
    summary = report.to_dict()
    if not report.ok:
        raise ConformanceFailed(card.id, [f"{r.check}: {r.message}" for r in report.failures])
    return {"status": "passed", "fast_only": True, "report": summary}


# ---- data ----------------------------------------------------------------------------------------
def load_splits(plan: Plan) -> Any:
    from ..data import load_dataset  # the data layer imports `datasets`: only when a run needs it

    req = plan.request
    build = BuildRequest(
        task=plan.resolved,
        source=plan.source,
        path=Path(req.data_path) if req.data_path else None,
        seed=req.data_seed,
    )
    return load_dataset(plan.task, build, build_if_missing=True)


def make_batchers(plan: Plan, data: Any) -> tuple[Any, Any, Any]:
    from ..data import Batcher

    bs = plan.resolved.training.batch_size
    return tuple(Batcher(data[s], plan.resolved, bs) for s in ("train", "validation", "test"))  # type: ignore[return-value]


# ---- the record ----------------------------------------------------------------------------------
def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def _deviations(plan: Plan) -> list[str]:
    req = plan.request
    out = list(plan.task.spec.deviations)
    out.append(BEST_CHECKPOINT_DEVIATION)
    if req.preset == "smoke":
        out.append("preset smoke: a tiny model and data for CPU/CI, not LRA's configuration")
    if req.sets:
        out.append("command-line overrides: " + ", ".join(f"{k}={v}" for k, v in sorted(req.sets.items())))
    if req.precision == "bf16":
        out.append("bf16 autocast (LRA trained in fp32)")
    if req.skip_conformance:
        out.append("conformance checks skipped (--skip-conformance)")
    return out


def _origin(registry: Registry, kind: str, key: str) -> tuple[str | None, str | None]:
    try:
        info = registry.origin(kind, key)
    except KeyError:
        return None, None
    return info.distribution or f"module {info.module}", info.version


def new_result(plan: Plan, registry: Registry, rundir: RunDir, conformance: dict[str, Any]) -> RunResult:
    dist, version = _origin(registry, "model", plan.card.id)
    now = _now()
    return RunResult(
        run_id=rundir.run_id,
        created=now,
        updated=now,
        status="running",
        model=ModelInfo(
            id=plan.card.id,
            framework=plan.card.framework,
            name=plan.card.name,
            distribution=dist,
            version=version,
            config=plan.config.model_dump(mode="json"),
        ),
        task=TaskInfo(
            id=plan.task.id,
            preset=plan.request.preset,
            spec_hash=plan.resolved.spec_hash(),
            resolved=plan.resolved.model_dump(mode="json"),
            source=plan.source,
            data_path=plan.request.data_path,
            validation_note=plan.task.spec.validation_note,
        ),
        seed=plan.request.seed,
        num_train_steps=plan.resolved.training.num_train_steps,
        environment=environment(),
        overrides=dict(plan.request.sets),
        conformance=conformance,
        deviations=_deviations(plan),
    )


def _eval_metrics(d: dict[str, Any] | None) -> EvalMetrics | None:
    return EvalMetrics(**d) if d else None


def parameter_budget_warning(num_params: int | None, reference: int | None) -> str | None:
    """LRA's apples-to-apples rule: at most 10% more parameters than the reference Transformer."""
    if not num_params or not reference or num_params <= 1.1 * reference:
        return None
    return (f"param_budget: {num_params:,} parameters is {num_params / reference:.0%} of the reference "
            f"Transformer's {reference:,} on this task config (LRA allows at most 110%)")


def _reference_num_params(plan: Plan, registry: Registry, backend: Backend, inputs: EncoderInputs) -> int | None:
    """Parameters of the same framework's reference Transformer on the same task config."""
    ref_id = f"{plan.card.framework}/transformer"
    if plan.card.id == ref_id or ref_id not in registry.models:
        return None
    try:
        ref = backend.build(
            registry.models[ref_id], reference_config(plan.config), inputs, seed=0,
            head=HeadSpec.for_task(plan.resolved, mlp_dim=plan.config.mlp_dim),
        )
        n = ref.num_params()
        del ref
        return n
    except Exception:  # a diagnostic only; never fail a run over it
        return None


def _fill(result: RunResult, outcome: LoopOutcome, backend: Backend, handle: ModelHandle, wall: float) -> None:
    s = outcome.state
    m = result.metrics
    m.validation = _eval_metrics(s.last_validation)
    m.best_step = s.best_step
    m.best_validation = _eval_metrics(s.best_validation)
    m.final_train_loss = s.last_train_loss
    if outcome.test is not None:
        m.test = EvalMetrics(**outcome.test.as_dict())
    if outcome.test_at_best is not None:
        m.test_at_best = EvalMetrics(**outcome.test_at_best.as_dict())
    result.steps_completed = s.step
    result.status = outcome.status
    result.diverged_at_step = outcome.diverged_at_step
    if outcome.status == "diverged":
        result.error = f"loss became {outcome.diverged_loss} at step {outcome.diverged_at_step}"
    result.timings = Timings(
        steps_per_second=(s.timed_steps / s.train_seconds) if s.train_seconds > 0 else None,
        train_seconds=s.train_seconds,
        eval_seconds=s.eval_seconds,
        compile_seconds=getattr(handle, "compile_seconds", None),
        wall_seconds=(result.timings.wall_seconds or 0.0) + wall,
    )
    peak = backend.peak_memory_bytes()
    if peak is not None:
        result.peak_memory_bytes = max(peak, result.peak_memory_bytes or 0)


# ---- running -------------------------------------------------------------------------------------
def execute(
    plan: Plan,
    registry: Registry,
    *,
    conformance: dict[str, Any] | None = None,
    resume: RunDir | None = None,
    progress: bool = True,
    data: Any = None,
) -> tuple[RunResult, RunDir]:
    """Train one seed; returns the final record (any status but ``failed``) and its directory.

    Raises :class:`RunFailed` (record written, status ``failed``) when the model or backend raises,
    and :class:`RunInterrupted` after recording ``interrupted`` when a second Ctrl-C aborts at once.
    """
    req = plan.request
    started = time.perf_counter()
    if data is None:
        data = load_splits(plan)  # a MissingDataError leaves no run directory behind
    if resume is None:
        rundir = RunDir.create(req.output, make_run_id(plan.card.id, plan.task.id, req.preset, req.seed))
        rundir.write_request(req.to_dict())
        result = new_result(plan, registry, rundir, conformance or {})
    else:
        rundir = resume
        rundir.clean_partial()
        result = read_result(rundir.result_path)
        result.status = "running"
        result.error = None
        result.environment = environment()
    result.backend = {"class": f"{plan.backend_cls.__module__}.{plan.backend_cls.__qualname__}",
                      "device_request": req.device, "precision": req.precision, "compile": req.compile}
    write_result(rundir.result_path, result)

    handle: ModelHandle | None = None
    backend: Backend | None = None
    try:
        train, validation, test = make_batchers(plan, data)
        backend = plan.backend_cls(device=req.device, precision=req.precision, compile=req.compile)  # type: ignore[arg-type]
        inputs = EncoderInputs(vocab_size=plan.resolved.vocab_size, max_length=plan.resolved.model_length)
        if result.model.reference_num_params is None:
            # Before the run's own build: a backend may seed a global RNG when it builds.
            result.model.reference_num_params = _reference_num_params(plan, registry, backend, inputs)
        handle = backend.build(
            plan.card, plan.config, inputs, seed=req.seed,
            head=HeadSpec.for_task(plan.resolved, mlp_dim=plan.config.mlp_dim),
            optimizer=OptimizerSettings.from_training(plan.resolved.training),
        )
        result.backend["device"] = backend.describe_device()
        result.environment["device"] = result.backend["device"]
        result.model.num_params = handle.num_params()
        if result.model.reference_num_params is None and plan.card.id == f"{plan.card.framework}/transformer":
            result.model.reference_num_params = result.model.num_params
        budget = parameter_budget_warning(result.model.num_params, result.model.reference_num_params)
        if budget and budget not in result.warnings:
            result.warnings.append(budget)
        state = None
        if resume is not None:
            found = rundir.latest_checkpoint()
            if found is not None:
                handle.load_checkpoint(found[0])
                state = LoopState.from_dict(found[1])
        rundir.truncate_curve(state.step if state else 0)
        write_result(rundir.result_path, result)
        backend.reset_peak_memory()
        loop = TrainLoop(
            handle, backend, plan.resolved.training, rundir, train, validation, test,
            seed=req.seed, progress=progress,
            description=f"{plan.card.id} {plan.task.id} s{req.seed}",
        )
        outcome = loop.run(state)
        _fill(result, outcome, backend, handle, time.perf_counter() - started)
        result.updated = _now()
        write_result(rundir.result_path, result)
        return result, rundir
    except KeyboardInterrupt:
        result.status = "interrupted"
        result.error = "interrupted (Ctrl-C); continue with --resume"
        result.updated = _now()
        write_result(rundir.result_path, result)
        raise RunInterrupted(rundir.path) from None
    except UserError as e:
        result.status = "failed"
        result.error = str(e)
        result.updated = _now()
        write_result(rundir.result_path, result)
        raise
    except Exception as e:
        result.status = "failed"
        result.error = "".join(traceback.format_exception_only(type(e), e)).strip()
        result.updated = _now()
        write_result(rundir.result_path, result)
        raise RunFailed(rundir.path, result.error) from e
