"""``lra-run`` / ``lra run``: train and evaluate a model on a task; resume a run; several seeds.

Exit status: 0 when every run completed; 1 when a run failed or diverged, or the model failed the
conformance checks; 2 for bad input; 130 when interrupted (the run stays resumable).
"""

from __future__ import annotations

import argparse
import re
import statistics
import sys
import traceback
from pathlib import Path
from typing import Any

from ..errors import MissingDataError, UserError
from ..plugins import Registry, get_registry
from ..resolve import parse_set
from ..results import RunResult, read_result
from ..specs import PRESETS
from ..training.rundir import RunDir
from ..training.run import (
    ConformanceFailed,
    RunFailed,
    RunInterrupted,
    RunRequest,
    execute,
    load_splits,
    plan_run,
    run_conformance,
)

DEFAULT_OUTPUT = "results"
_DEVICE = re.compile(r"^(auto|cpu|cuda(:\d+)?)$")
#: Flags that define a run; with --resume they come from the run's run.json instead.
_DEFINING = ("model", "task", "preset", "sets", "seeds", "output", "precision", "compile", "source", "data_path")


def _device(value: str) -> str:
    if not _DEVICE.match(value):
        raise argparse.ArgumentTypeError(f"invalid device {value!r}; use auto, cpu, cuda or cuda:N")
    return value


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--plugin", dest="model", metavar="MODEL", help="model id, e.g. torch/transformer (see `lra list models`)")
    p.add_argument("--task", metavar="TASK", help="task id, or `all` for the suite (LRA's six tasks and suite tasks of plugins)")
    p.add_argument("--preset", choices=PRESETS, default=None, help="code (LRA's released configs; default), paper or smoke")
    p.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE",
                   help="override a spec/config field, e.g. training.learning_rate=0.01 or model.num_layers=2; repeatable")
    p.add_argument("--seeds", metavar="S[,S...]", help="comma-separated seeds (default 0); several give mean ± std")
    p.add_argument("--output", metavar="DIR", help=f"results folder (default {DEFAULT_OUTPUT}/)")
    p.add_argument("--resume", metavar="RUN_DIR", help="continue an interrupted or killed run from its last checkpoint")
    p.add_argument("--device", type=_device, default=None, help="auto (default), cpu, cuda or cuda:N")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None, help="fp32 (default) or bf16 autocast")
    p.add_argument("--compile", action="store_true", default=None, help="compile the model (torch.compile / jit)")
    p.add_argument("--source", help="data source of the task (default: the spec's default_source)")
    p.add_argument("--data-path", dest="data_path", metavar="PATH", help="local data for sources that read files")
    p.add_argument("--skip-conformance", action="store_true", help="train even if the conformance checks fail (recorded)")


def parse_seeds(raw: str | None) -> list[int]:
    if raw is None:
        return [0]
    try:
        seeds = [int(s) for s in raw.split(",") if s.strip()]
    except ValueError:
        raise UserError(f"--seeds {raw!r}: expected comma-separated integers, e.g. --seeds 0,1,2") from None
    if not seeds or any(s < 0 for s in seeds) or len(set(seeds)) != len(seeds):
        raise UserError(f"--seeds {raw!r}: expected distinct non-negative integers, e.g. --seeds 0,1,2")
    return seeds


# ---- output --------------------------------------------------------------------------------------
def _pct(x: float | None) -> str:
    return "-" if x is None else f"{100 * x:.2f}"


def describe(result: RunResult, run_dir: Path) -> str:
    m, t = result.metrics, result.timings
    head = f"run {result.run_id}: {result.status} after {result.steps_completed}/{result.num_train_steps} steps"
    if t.steps_per_second:
        head += f", {t.steps_per_second:.1f} steps/s"
    if t.wall_seconds:
        head += f", {t.wall_seconds:.1f} s"
    lines = [head]
    if result.status == "diverged":
        lines.append(f"  diverged at step {result.diverged_at_step} ({result.error})")
    if m.validation:
        lines.append(f"  validation accuracy {_pct(m.validation.accuracy)}% (loss {m.validation.loss:.4f}); "
                     f"best {_pct(m.best_validation.accuracy if m.best_validation else None)}% at step {m.best_step}")
    if m.test:
        lines.append(f"  test accuracy {_pct(m.test.accuracy)}% on the last checkpoint (LRA protocol, {m.test.examples} examples)")
    if m.test_at_best:
        lines.append(f"  test accuracy {_pct(m.test_at_best.accuracy)}% on the best-validation checkpoint (step {m.best_step})")
    if result.peak_memory_bytes:
        lines.append(f"  peak memory {result.peak_memory_bytes / 2**20:.1f} MiB")
    lines.append(f"  result: {run_dir / 'result.json'}")
    if result.status == "interrupted":
        lines.append(f"  continue with: lra-run --resume {run_dir}")
    return "\n".join(lines)


def _mean_std(values: list[float]) -> str:
    mean = statistics.fmean(values)
    std = statistics.stdev(values) if len(values) > 1 else 0.0
    return f"{100 * mean:.2f} ± {100 * std:.2f}"


def seeds_summary(results: list[RunResult]) -> str:
    lines = []
    by_key: dict[tuple[str, str, str], list[RunResult]] = {}
    for r in results:
        by_key.setdefault((r.model.id, r.task.id, r.task.preset), []).append(r)
    for (model, task, preset), rs in by_key.items():
        done = [r for r in rs if r.status == "completed" and r.metrics.test]
        if len(rs) < 2:
            continue
        if not done:
            lines.append(f"{model} {task} ({preset}): no seed completed")
            continue
        test = [r.metrics.test.accuracy for r in done]  # type: ignore[union-attr]
        best = [r.metrics.test_at_best.accuracy for r in done if r.metrics.test_at_best]
        line = f"{model} {task} ({preset}) over {len(done)} seed(s) {[r.seed for r in done]}: test accuracy {_mean_std(test)}%"
        if best:
            line += f" (best-validation checkpoint {_mean_std(best)}%)"
        lines.append(line)
    return "\n".join(lines)


def lra_table(results: list[RunResult]) -> str:
    """The LRA table from the reports module when it is installed, else a per-task summary."""
    try:
        from ..reports.lra import lra_tables
        from ..reports.table import render
    except ImportError:
        lra_tables = None  # type: ignore[assignment]
    if lra_tables is not None and results:
        try:
            warnings: list[str] = []
            return render(lra_tables(results, warnings=warnings), "md", warnings)
        except Exception as e:  # the table is a summary; the records on disk are what matters
            print(f"warning: could not build the LRA table ({e}); per-task summary instead", file=sys.stderr)
    rows: dict[tuple[str, str], list[float]] = {}
    for r in results:
        if r.status == "completed" and r.metrics.test:
            rows.setdefault((r.model.id, r.task.id), []).append(r.metrics.test.accuracy)
    if not rows:
        return "no run completed"
    lines = ["model  task  test accuracy % (mean ± std, seeds)"]
    for (model, task), accs in sorted(rows.items()):
        lines.append(f"{model}  {task}  {_mean_std(accs)} (n={len(accs)})")
    return "\n".join(lines)


# ---- commands ------------------------------------------------------------------------------------
def _run_one(
    plan: Any, reg: Registry, debug: bool, *, conformance: dict[str, Any],
    resume: RunDir | None = None, data: Any = None,
) -> tuple[int, RunResult | None, Path | None]:
    """Execute one run and print its summary; returns (exit code, record, run directory)."""
    try:
        result, rundir = execute(plan, reg, conformance=conformance, resume=resume, data=data)
    except RunFailed as e:
        if debug and e.__cause__ is not None:
            traceback.print_exception(e.__cause__)
        print(f"error: run failed: {e.error}\n  result: {e.run_dir / 'result.json'}", file=sys.stderr)
        try:
            return 1, read_result(e.run_dir / "result.json"), e.run_dir
        except UserError:
            return 1, None, e.run_dir
    except RunInterrupted as e:
        print(f"interrupted; continue with: lra-run --resume {e.run_dir}", file=sys.stderr)
        return 130, None, e.run_dir
    print(describe(result, rundir.path))
    return {"completed": 0, "interrupted": 130}.get(result.status, 1), result, rundir.path


def plan_conformance(plan: Any, reg: Registry, cache: dict[str, dict[str, Any]]) -> dict[str, Any]:
    """The fast conformance checks once per model (``cache``), or the record of skipping them."""
    req = plan.request
    if req.skip_conformance:
        return {"status": "skipped", "reason": "--skip-conformance"}
    if plan.card.id not in cache:
        device = "cpu" if req.device == "auto" else req.device
        print(f"conformance: fast checks on {plan.card.id} ...", file=sys.stderr)
        cache[plan.card.id] = run_conformance(plan.card, reg, device, req.precision)
    return cache[plan.card.id]


def _resume(args: argparse.Namespace) -> int:
    given = [f"--{k.replace('_', '-').replace('model', 'plugin').replace('sets', 'set')}" for k in _DEFINING
             if getattr(args, k, None) not in (None, [], False)]
    if given:
        raise UserError(f"--resume takes the run's settings from its run.json; drop {', '.join(given)}")
    rd = RunDir.open(args.resume)
    previous = read_result(rd.result_path)
    if previous.status == "completed":
        raise UserError(f"--resume {rd.path}: the run already completed; start a new run instead")
    if previous.status == "diverged":
        raise UserError(f"--resume {rd.path}: the run diverged at step {previous.diverged_at_step}; "
                        "resuming would diverge again (lower training.learning_rate with --set)")
    req = RunRequest.from_dict(rd.read_request())
    if args.device:
        req.device = args.device
    req.plugin_modules = list(dict.fromkeys([*req.plugin_modules, *args.plugin_modules]))
    rd.write_request(req.to_dict())
    reg = get_registry(tuple(req.plugin_modules))
    plan = plan_run(req, reg)
    print(f"resuming {rd.path} ({previous.status} at step {previous.steps_completed})")
    # Conformance was decided when the run started; keep that record.
    code, _, _ = _run_one(plan, reg, args.debug, conformance=previous.conformance, resume=rd)
    return code


def main(args: argparse.Namespace) -> int:
    if args.resume:
        return _resume(args)
    if not args.model or not args.task:
        raise UserError("lra-run: --plugin MODEL and --task TASK are required (or --resume RUN_DIR)")
    seeds = parse_seeds(args.seeds)
    sets = parse_set(args.sets)
    reg = get_registry(tuple(args.plugin_modules))
    # `all` is the suite: tasks whose spec says `suite = true` (LRA's six; variants run by name).
    task_ids = sorted(t for t, task in reg.tasks.items() if task.spec.suite) if args.task == "all" else [args.task]
    if not task_ids:
        raise UserError("--task all: no tasks are registered; see `lra list plugins`")

    def request(task: str, seed: int) -> RunRequest:
        return RunRequest(
            model=args.model, task=task, preset=args.preset or "code", sets=sets, seed=seed,
            output=args.output or DEFAULT_OUTPUT, device=args.device or "auto",
            precision=args.precision or "fp32", compile=bool(args.compile), source=args.source,
            data_path=args.data_path, skip_conformance=args.skip_conformance,
            plugin_modules=list(args.plugin_modules),
        )

    # Resolve every task first, so a bad flag or --set key fails before anything trains.
    plans = []
    for task in task_ids:
        try:
            plans.append(plan_run(request(task, seeds[0]), reg))
        except UserError as e:
            if args.task != "all":
                raise
            print(f"skipping task {task}: {e}", file=sys.stderr)

    results: list[RunResult] = []
    checked: dict[str, dict[str, Any]] = {}
    worst = 0
    for plan in plans:
        try:
            conformance = plan_conformance(plan, reg, checked)
        except ConformanceFailed as e:
            print(f"error: {e.model} fails the conformance checks, so it is not trained:", file=sys.stderr)
            for f in e.failures:
                print(f"  - {f}", file=sys.stderr)
            print("  fix the model, or train anyway with --skip-conformance (recorded in the result)", file=sys.stderr)
            return 1
        try:
            data = load_splits(plan)
        except MissingDataError as e:
            if args.task != "all":
                raise
            print(f"skipping task {plan.task.id}: {e}", file=sys.stderr)
            continue
        for seed in seeds:
            seeded = plan_run(request(plan.task.id, seed), reg)
            code, result, _ = _run_one(seeded, reg, args.debug, conformance=conformance, data=data)
            if result is not None:
                results.append(result)
            worst = 130 if code == 130 else max(worst, code)
            if code == 130:
                break
        if worst == 130:
            break
    if len(seeds) > 1 and results:
        summary = seeds_summary(results)
        if summary:
            print("\n" + summary)
    if args.task == "all":
        print("\n" + lra_table(results))
    return worst
