"""Data-layer speed: full ListOps generation, and batcher throughput against the model's step time.

    .venv/bin/python benchmarks/data.py [--skip-generate] [--examples N] [--seconds S]

1. Generates the full ListOps set (96,000 / 2,000 / 2,000) with all cores and prints the time (target:
   under 2 minutes on 2 cores).
2. For the ``code`` preset of each task (listops, text, retrieval, image) it builds synthetic data of
   the right shape (lengths drawn like the real data), saves it as Arrow and memory-maps it back as
   ``load_dataset`` does, then times ``Batcher.train_batches`` (batches/s).
3. It times forward + backward of the reference encoder (``torch/transformer`` built by
   ``lra_torch.models.transformer`` with the preset's dims) on CPU on a small batch, scales the time
   to the preset's batch size (time grows linearly with the batch), and prints the ratio: how many
   batches the batcher makes in one model step. The batcher must never be the bottleneck (ratio >> 1).

Timings on a shared machine are noisy; the ratio is what matters.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from itertools import islice
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lra_core.data import Batcher, make_dataset, offsets_from_lengths  # noqa: E402
from lra_task_specs.plugin import builtin_tasks  # noqa: E402

TASKS = ("listops", "text", "retrieval", "image")
#: Examples in a forward/backward timing batch (scaled to the preset's batch size after).
MODEL_BATCH = {"listops": 2, "text": 4, "retrieval": 1, "image": 8}


def synthetic_lengths(task: str, n: int, rng: np.random.Generator) -> np.ndarray:
    if task == "listops":  # 501..1999, mean ~1020 (the original generator's distribution is skewed low)
        return np.clip(rng.lognormal(6.85, 0.4, n), 501, 1999).astype(np.int64)
    if task == "text":  # IMDB reviews: median ~970 bytes, long tail
        return np.clip(rng.lognormal(6.9, 0.7, n), 30, 14000).astype(np.int64)
    if task == "retrieval":  # AAN papers are long: almost all hit the 4,000-id cut
        return np.clip(rng.lognormal(9.0, 0.5, n), 200, 4000).astype(np.int64)
    return np.full(n, 1024, np.int64)


def synthetic_split(task, n: int, folder: Path):
    import datasets

    rng = np.random.default_rng(0)
    spec = task.spec
    high = min(spec.vocab_size - 1, 256)
    cols = {}
    names = ["inputs1", "inputs2"] if spec.input == "pair" else ["inputs"]
    for name in names:
        lengths = synthetic_lengths(spec.id, n, rng)
        values = rng.integers(0 if spec.id == "image" else 1, high, int(lengths.sum())).astype(
            np.uint8 if high < 256 else np.uint16)
        cols[name] = (values, offsets_from_lengths(lengths))
    cols["label"] = rng.integers(0, spec.num_classes, n)
    path = folder / spec.id
    make_dataset(cols).save_to_disk(str(path))
    return datasets.load_from_disk(str(path))  # memory-mapped, as load_dataset returns it


def batcher_rate(split, resolved, seconds: float) -> tuple[float, int]:
    b = Batcher(split, resolved, resolved.training.batch_size)
    it = b.train_batches(seed=0)
    next(it)  # warm-up
    count, start = 0, time.perf_counter()
    while time.perf_counter() - start < seconds:
        for _ in islice(it, 5):
            count += 1
    return count / (time.perf_counter() - start), count


def model_step_seconds(resolved) -> tuple[float | None, str]:
    """Forward + backward of the reference encoder, scaled to the preset's batch size."""
    try:
        import torch

        from lra_core import EncoderConfig, EncoderInputs
        from lra_torch.models import transformer
    except Exception as e:  # torch plugin not installed
        return None, f"torch unavailable ({type(e).__name__})"
    torch.manual_seed(0)
    torch.set_num_threads(max(1, len(os.sched_getaffinity(0))))
    config = EncoderConfig(**resolved.encoder.model_dump())
    model = transformer.build(config, EncoderInputs(vocab_size=resolved.vocab_size, max_length=resolved.model_length))
    model.train()
    small = MODEL_BATCH[resolved.task] * (2 if resolved.input == "pair" else 1)
    tokens = torch.randint(1, resolved.vocab_size, (small, resolved.model_length))
    mask = torch.ones(small, resolved.model_length, dtype=torch.bool)
    mask[0, resolved.model_length // 2:] = False

    def step() -> None:
        model.zero_grad(set_to_none=True)
        model(tokens, mask).mean().backward()

    step()  # warm-up
    times = []
    for _ in range(2):
        t0 = time.perf_counter()
        step()
        times.append(time.perf_counter() - t0)
    per_seq = min(times) / small
    full = resolved.training.batch_size * (2 if resolved.input == "pair" else 1)
    return per_seq * full, f"measured at {small} sequence(s) of {resolved.model_length}, scaled to {full}"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--skip-generate", action="store_true", help="skip the full ListOps generation")
    ap.add_argument("--examples", type=int, default=2048, help="synthetic examples per task (default 2048)")
    ap.add_argument("--seconds", type=float, default=2.0, help="batcher timing per task (default 2 s)")
    ap.add_argument("--no-model", action="store_true", help="skip the model step timing")
    args = ap.parse_args()
    print(f"cores: {len(os.sched_getaffinity(0))}, load average: {os.getloadavg()[0]:.1f} (timings are noisy on a shared machine)")

    if not args.skip_generate:
        from lra_task_specs.listops.generator import default_workers, generate

        t0 = time.perf_counter()
        trees = generate(100_000, seed=0, progress=True)
        dt = time.perf_counter() - t0
        lengths = np.diff(trees.offsets)
        print(f"ListOps full set: {len(trees):,} examples in {dt:.1f} s with {default_workers()} worker(s) "
              f"({len(trees) / dt:,.0f} ex/s; target < 120 s); mean length {lengths.mean():.0f}, "
              f"label 0 {np.mean(trees.labels == 0):.1%}, label 9 {np.mean(trees.labels == 9):.1%}")

    tasks = {t.id: t for t in builtin_tasks()}
    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        for tid in TASKS:
            task = tasks[tid]
            resolved = task.spec.resolved("code")
            split = synthetic_split(task, args.examples, Path(tmp))
            rate, n = batcher_rate(split, resolved, args.seconds)
            step_s, how = (None, "skipped") if args.no_model else model_step_seconds(resolved)
            shape = f"[{resolved.training.batch_size}{', 2' if resolved.input == 'pair' else ''}, {resolved.model_length}]"
            rows.append((tid, shape, rate, step_s, how))
            ratio = f"{rate * step_s:,.0f}x" if step_s else "-"
            step_txt = f"{step_s:.2f} s" if step_s else "-"
            print(f"{tid:10s} batch {shape:15s} batcher {rate:8.1f} batches/s   model fwd+bwd step {step_txt:>9s}   "
                  f"batches per model step {ratio:>8s}   ({how})", flush=True)
    slow = [r for r in rows if r[3] and r[2] * r[3] < 10]
    print("OK: the batcher is far faster than a model step on every task" if not slow
          else f"WARNING: batcher within 10x of the model step for {[r[0] for r in slow]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
