"""Builders of run and profile records for the report tests (the tests write them themselves)."""

from __future__ import annotations

from lra_core.profiling.protocol import ProfileProtocol
from lra_core.profiling.record import ProfileModel, ProfileRecord, ProfileTask
from lra_core.profiling.stats import summarize
from lra_core.results import EvalMetrics, Metrics, ModelInfo, RunResult, TaskInfo

ENV = {"cpu": "Test CPU", "python": "3.11", "git": {"commit": "abcdef1234567890", "dirty": False}}


def run(model: str, task: str, seed: int, acc: float, *, preset: str = "code", spec: str = "hash-aaaa",
        status: str = "completed", examples: int = 1000, classes: int = 2, updated: str = "2026-01-01T00:00:00") -> RunResult:
    fw, name = model.split("/")
    return RunResult(
        run_id=f"{model}-{task}-{preset}-{spec}-{seed}-{updated}",
        created="2026-01-01T00:00:00",
        updated=updated,
        status=status,
        model=ModelInfo(id=model, framework=fw, name=name, distribution=f"lra-{fw}", version="0.1", config={}),
        task=TaskInfo(id=task, preset=preset, spec_hash=spec, resolved={"num_classes": classes}, source="generated"),
        seed=seed,
        num_train_steps=10,
        steps_completed=10,
        metrics=Metrics(test=EvalMetrics(accuracy=acc, loss=0.5, examples=examples)) if status == "completed" else Metrics(),
        backend={"kind": "cpu", "name": f"{fw}-device", "torch" if fw == "torch" else "jax": "9.9"},
        environment=ENV,
    )


def profile(model: str, length: int, step_seconds: float, peak: int | None, *, status: str = "ok",
            invocation: str = "inv", preset: str = "code", setting: str = "set-1", batch: int = 32) -> ProfileRecord:
    fw, name = model.split("/")
    proto = ProfileProtocol(lengths=[length], batch_size=batch, preset=preset)
    rec = ProfileRecord(
        created="2026-01-01T00:00:00",
        invocation_id=invocation,
        status=status,
        model=ProfileModel(id=model, framework=fw, name=name),
        task=ProfileTask(id="text", preset=preset, length=length, batch_size=batch, spec_hash=f"s{length}", setting_hash=setting),
        protocol=proto,
        device={"kind": "cuda", "name": "NVIDIA H200"},
        environment=ENV,
    )
    if status == "ok":
        stats = summarize([step_seconds] * 5)
        rec.timings.step_seconds = [[step_seconds] * 5]
        rec.timings.stats = stats
        rec.timings.steps_per_second = stats.steps_per_second
        rec.memory.peak_bytes = peak
    else:
        rec.error = "boom"
    return rec
