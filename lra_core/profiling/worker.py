"""Measure ONE (model, length) under the profile protocol and write its record.

Run in a fresh process per configuration (the runner does this), so peak-memory counters without a
reset (JAX, a process's RSS high-water mark) and allocator caches start clean::

    python -m lra_core.profiling.worker --model torch/transformer --length 1024 \
        --protocol '{"batch_size": 32}' --out rec.json [-p MODULE ...]

The worker always writes a record, also when the step runs out of memory (status ``oom``) or
raises (``error``); it exits 0 when a record was written. Frameworks are reached only through the
registry's backend classes.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import sys
import time
import traceback
import uuid
from pathlib import Path
from typing import Any, Sequence

from ..backend import Backend, HeadSpec, OptimizerSettings
from ..cards import EncoderInputs
from ..plugins import load_registry
from ..resolve import resolve
from .flops import analytic_forward_flops, analytic_step_flops, device_peak_flops, mfu
from .protocol import ProfileProtocol
from .record import ProfileModel, ProfileRecord, ProfileTask, base_record, write_profile
from .stats import summarize
from .synthetic import synthetic_batch

def _hash(obj: Any) -> str:
    blob = json.dumps(obj, sort_keys=True, separators=(",", ":"), default=str)
    return hashlib.sha256(blob.encode()).hexdigest()[:16]


def _error_text(exc: BaseException) -> str:
    lines = traceback.format_exception_only(type(exc), exc)
    return "".join(lines).strip()[-2000:]


#: What the first-party backends' peak_memory_bytes() reads, by (framework, device kind).
KNOWN_COUNTERS = {
    ("torch", "cuda"): "torch.cuda.max_memory_allocated after reset_peak_memory_stats (tensor bytes)",
    ("jax", "gpu"): "device memory_stats() peak_bytes_in_use (process lifetime = this worker)",
    ("jax", "cuda"): "device memory_stats() peak_bytes_in_use (process lifetime = this worker)",
    ("jax", "tpu"): "device memory_stats() peak_bytes_in_use (process lifetime = this worker)",
}
CPU_COUNTER = "process peak RSS growth over the window (VmHWM reset via /proc/self/clear_refs)"


def _memory_counter(backend: Backend, device: dict[str, Any]) -> str | None:
    """The backend's own description when it has one, else what the first-party backends read."""
    counter = getattr(backend, "memory_counter", None) or device.get("memory_counter")
    if counter:
        return str(counter)
    kind = str(device.get("kind") or device.get("platform") or "").lower()
    known = KNOWN_COUNTERS.get((backend.framework, kind))
    if known:
        return known
    if kind == "cpu" and backend.framework in ("torch", "jax"):
        return CPU_COUNTER
    return f"{backend.framework} backend peak_memory_bytes() on {kind or 'its device'}"


def measure(
    model: str,
    length: int,
    protocol: ProfileProtocol,
    *,
    modules: Sequence[str] = (),
    invocation_id: str | None = None,
) -> ProfileRecord:
    """Carry out the protocol for one configuration in this process; never raises for the step."""
    rec = base_record(model, length, protocol, invocation_id or uuid.uuid4().hex[:12])
    backend: Backend | None = None
    try:
        reg = load_registry(list(modules))
        card = reg.model(model)
        origin = reg.origin("model", card.id)
        task = reg.task(protocol.task)
        sets = {**protocol.overrides, "max_length": length, "training.batch_size": protocol.batch_size}
        resolved, config = resolve(card, task, protocol.preset, sets)
        rec.model = ProfileModel(
            id=card.id,
            framework=card.framework,
            name=card.name,
            distribution=origin.distribution,
            version=origin.version,
            config=config.model_dump(mode="json"),
        )
        setting = resolved.model_dump(mode="json", exclude={"max_length", "splits"})
        rec.task = ProfileTask(
            id=task.id,
            preset=protocol.preset,
            length=length,
            model_length=resolved.model_length,
            batch_size=protocol.batch_size,
            input=resolved.input,
            spec_hash=resolved.spec_hash(),
            setting_hash=_hash([setting, rec.model.config, protocol.batch_size, protocol.precision]),
        )
        backend = reg.backend(card.framework)(device=protocol.device, precision=protocol.precision, compile=protocol.compile)
        rec.backend = {
            "class": f"{type(backend).__module__}.{type(backend).__qualname__}",
            "framework": card.framework,
            "device_request": protocol.device,
            "precision": protocol.precision,
            "compile": protocol.compile,
        }
        rec.device = dict(backend.describe_device())
        rec.memory.counter = _memory_counter(backend, rec.device)

        batch = synthetic_batch(resolved, protocol.batch_size, seed=protocol.seed)
        lr = resolved.training.learning_rate
        t0 = time.perf_counter()
        handle = backend.build(
            card,
            config,
            EncoderInputs(vocab_size=resolved.vocab_size, max_length=resolved.model_length),
            seed=protocol.seed,
            head=HeadSpec.for_task(resolved, config.mlp_dim),
            optimizer=OptimizerSettings.from_training(resolved.training),
        )
        backend.sync()
        rec.timings.build_seconds = time.perf_counter() - t0
        try:
            rec.model.num_params = handle.num_params()
        except Exception as exc:  # counting parameters must never sink a timing
            rec.warnings.append(f"num_params failed: {_error_text(exc)}")

        def timed_step() -> tuple[float, Any]:
            backend.sync()
            start = time.perf_counter()
            loss = handle.train_step(batch, lr)
            backend.sync()
            return time.perf_counter() - start, loss

        backend.reset_peak_memory()
        first, loss = timed_step()
        rec.timings.first_step_seconds = first
        rec.timings.warmup_seconds = [timed_step()[0] for _ in range(protocol.warmup_steps)]
        for _ in range(protocol.repeats):
            block = []
            for _ in range(protocol.measured_steps):
                seconds, loss = timed_step()
                block.append(seconds)
            rec.timings.step_seconds.append(block)
        peak = backend.peak_memory_bytes()
        rec.memory.peak_bytes = None if peak is None else int(peak)

        samples = [s for block in rec.timings.step_seconds for s in block]
        stats = summarize(samples, protocol.noise_threshold)
        rec.timings.stats = stats
        rec.timings.steps_per_second = stats.steps_per_second
        rec.timings.examples_per_second = stats.steps_per_second * protocol.batch_size
        if (warning := stats.warning()) is not None:
            rec.warnings.append(warning)
        backend_compile = getattr(handle, "compile_seconds", None)
        if backend_compile is not None:
            rec.timings.compile_seconds = float(backend_compile)
            rec.timings.compile_source = "backend (handle.compile_seconds)"
        else:
            rec.timings.compile_seconds = max(0.0, first - stats.median)
            rec.timings.compile_source = "first call minus steady-state median"
        rec.final_loss = float(loss)  # after the clock: this conversion synchronises
        if not math.isfinite(rec.final_loss):
            rec.warnings.append(f"loss is {rec.final_loss} after the measured steps (timings still valid)")

        sequences = protocol.batch_size * (2 if resolved.input == "pair" else 1)
        fwd = analytic_forward_flops(card.flops, config, sequences, resolved.model_length)
        rec.flops.analytic_forward = fwd
        rec.flops.analytic_step = analytic_step_flops(fwd)
        if fwd is not None:
            rec.flops.analytic_rule = "3 x the model card's encoder forward formula (head excluded)"
        rec.flops.device_peak_flops = device_peak_flops(rec.device, protocol.precision)
        rec.flops.mfu = mfu(rec.flops.analytic_step, stats.steps_per_second, rec.flops.device_peak_flops)
        rec.status = "ok"
        if protocol.count_flops:
            # After the timing and the memory window: a counter's overhead must not leak into them.
            try:
                counted = handle.count_flops(batch.tokens, batch.mask, train_step=True)
            except Exception as exc:
                rec.warnings.append(f"count_flops failed: {_error_text(exc)}")
                counted = None
            if counted is not None:
                rec.flops.counted_step = float(counted)
                rec.flops.counted_by = f"counted by the {card.framework} backend (framework counter)"
    except BaseException as exc:  # the record is the product: every failure lands in it
        if isinstance(exc, KeyboardInterrupt):
            raise
        oom = backend is not None and backend.is_out_of_memory(exc)
        oom = oom or isinstance(exc, MemoryError) or "out of memory" in str(exc).lower()
        rec.status = "oom" if oom else "error"
        rec.error = _error_text(exc)
        rec.worker["traceback"] = traceback.format_exc()[-4000:]
    return rec


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="python -m lra_core.profiling.worker", description=__doc__.splitlines()[0])
    p.add_argument("--model", required=True)
    p.add_argument("--length", required=True, type=int)
    p.add_argument("--protocol", default="{}", help="ProfileProtocol as JSON")
    p.add_argument("--invocation-id", default=None)
    p.add_argument("--out", required=True, type=Path)
    p.add_argument("-p", dest="modules", action="append", default=[], metavar="MODULE")
    return p


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    protocol = ProfileProtocol.model_validate_json(args.protocol)
    started = time.perf_counter()
    rec = measure(args.model, args.length, protocol, modules=args.modules, invocation_id=args.invocation_id)
    rec.worker.update({"pid": os.getpid(), "wall_seconds": time.perf_counter() - started, "python": sys.executable})
    write_profile(args.out, rec)
    return 0


if __name__ == "__main__":
    sys.exit(main())
