"""Step time through the lra_core loop against a bare hand-written loop over the same model and batches.

For each framework (torch: a plain PyTorch loop with AdamW; jax: a bare jitted Flax + optax step),
both loops train the same model (same card, config, seed) on the same pre-built batches, so the
ratio measures only what the core adds per step: the LR schedule, the lazy loss reads, the progress
bar, the metric curve and the backend's step wrapper. Evaluation and checkpoints are outside the
timed region of the core loop (its own ``train_seconds``), compile time is excluded (warm-up steps)
and reported apart for JAX.

A third timing, the backend's ``train_step`` in a plain loop, splits the difference into the
loop's own cost (core / backend) and the backend's (backend / bare). Each model is built and
warmed once; repeats rotate the order of the three (bare, backend, core, then backend, core, bare,
...) and are summarised by medians, because the CPU may be shared. Target: core / bare <= 1.03.

    python benchmarks/overhead.py [--framework torch|jax|all] [--task listops] [--preset smoke]
                                  [--set KEY=VALUE ...] [--steps 30] [--warmup 3] [--repeats 7] [--threads 1]
"""

from __future__ import annotations

import argparse
import contextlib
import io
import itertools
import math
import os
import statistics
import sys
import tempfile
import time
from typing import Any, Callable, Iterator

import numpy as np

from lra_core import Batch, EncoderInputs, HeadSpec, OptimizerSettings, get_registry
from lra_core.data import Batcher, load_dataset
from lra_core.resolve import parse_set, resolve
from lra_core.tasks import BuildRequest
from lra_core.training import LearningRateSchedule, RunDir, TrainLoop


class FixedBatches:
    """The same materialised batches for both loops (training cycles through them)."""

    def __init__(self, batches: list[Batch]) -> None:
        self.batches = batches
        self.num_examples = sum(b.size for b in batches)

    def train_batches(self, seed: int, start_step: int = 0) -> Iterator[Batch]:
        return itertools.islice(itertools.cycle(self.batches), start_step, None)

    def eval_batches(self, max_batches: int | None = None) -> Iterator[Batch]:
        return iter(self.batches[:1])


class Setup:
    def __init__(self, args: argparse.Namespace, framework: str) -> None:
        reg = get_registry()
        self.card = reg.model(f"{framework}/transformer")
        self.task = reg.task(args.task)
        self.resolved, self.config = resolve(self.card, self.task, args.preset, parse_set(args.set))
        t = self.resolved.training
        self.training = t.model_copy(update={"num_train_steps": args.steps, "eval_every": args.steps, "checkpoint_every": None})
        self.backend_cls = reg.backend(framework)
        self.inputs = EncoderInputs(vocab_size=self.resolved.vocab_size, max_length=self.resolved.model_length)
        self.head = HeadSpec.for_task(self.resolved, mlp_dim=self.config.mlp_dim)
        self.opt = OptimizerSettings.from_training(t)
        self.schedule = LearningRateSchedule(self.training)
        data = load_dataset(self.task, BuildRequest(task=self.resolved, source=self.task.spec.default_source))
        batcher = Batcher(data["train"], self.resolved, t.batch_size)
        n = args.warmup + args.steps
        self.batches = list(itertools.islice(batcher.train_batches(0), n))
        self.warmup = self.batches[: args.warmup]
        self.timed = self.batches[args.warmup :]
        self.backend = self.backend_cls(device="cpu", precision="fp32", compile=False)

    def build(self) -> Any:
        return self.backend.build(self.card, self.config, self.inputs, seed=0, head=self.head, optimizer=self.opt)


# ---- the three loops ------------------------------------------------------------------------------
# Each ``make_*`` builds and warms its model once (compile excluded) and returns a function that
# times ``len(s.timed)`` further steps; repeats continue training the same model (step time does
# not depend on the values).
def make_core(s: Setup) -> Callable[[], float]:
    handle = s.build()
    for i, b in enumerate(s.warmup):  # compile (JAX) and warm allocator caches, untimed
        handle.train_step(b, s.schedule(i))
    s.backend.sync()

    def run() -> float:
        with tempfile.TemporaryDirectory() as tmp, contextlib.redirect_stderr(io.StringIO()):
            loop = TrainLoop(handle, s.backend, s.training, RunDir.create(tmp, "bench"), FixedBatches(s.timed),
                             FixedBatches(s.timed), FixedBatches(s.timed), seed=0, progress=True)
            out = loop.run()
        assert out.status == "completed", out.status
        return out.state.train_seconds / out.state.timed_steps

    return run


def make_backend_only(s: Setup) -> Callable[[], float]:
    """The backend's train_step in a plain loop: separates the backend's cost from the loop's."""
    handle = s.build()
    for i, b in enumerate(s.warmup):
        handle.train_step(b, s.schedule(i))
    s.backend.sync()
    lrs = [s.schedule(k) for k in range(len(s.warmup), len(s.warmup) + len(s.timed))]

    def run() -> float:
        t0 = time.perf_counter()
        for b, lr in zip(s.timed, lrs):
            loss = handle.train_step(b, lr)
        float(loss)
        return (time.perf_counter() - t0) / len(s.timed)

    return run


def _lr(s: Setup, k: int) -> float:
    """What a hand-written loop computes inline: LRA's constant * linear_warmup * rsqrt_decay."""
    base, warm = s.training.learning_rate, s.training.warmup_steps
    return base * min(1.0, k / warm if warm else 1.0) / math.sqrt(max(k, warm, 1))


def make_bare_torch(s: Setup) -> Callable[[], float]:
    import torch
    import torch.nn.functional as F

    model = s.build().model  # the same nn.Module (encoder + LRA classifier) the backend trains
    model.train()
    o = s.opt
    opt = torch.optim.AdamW(model.parameters(), lr=0.0, betas=(o.beta1, o.beta2), eps=o.eps, weight_decay=o.weight_decay)

    def step(b: Batch, k: int) -> torch.Tensor:
        for g in opt.param_groups:
            g["lr"] = _lr(s, k)
        opt.zero_grad(set_to_none=True)
        logits = model(torch.from_numpy(b.tokens).long(), torch.from_numpy(b.mask))
        loss = F.cross_entropy(logits, torch.from_numpy(b.labels).long())
        loss.backward()
        opt.step()
        return loss.detach()

    for k, b in enumerate(s.warmup):
        step(b, k)

    def run() -> float:
        t0 = time.perf_counter()
        for k, b in enumerate(s.timed, start=len(s.warmup)):
            loss = step(b, k)
        loss.item()
        return (time.perf_counter() - t0) / len(s.timed)

    return run


def make_bare_jax(s: Setup) -> tuple[Callable[[], float], float]:
    """A bare jitted Flax + optax step; returns the timer and its compile seconds."""
    import jax
    import jax.numpy as jnp
    import optax

    handle = s.build()  # for the Flax module and the same initial parameters
    model = handle.model
    o = s.opt
    tx = optax.chain(optax.scale_by_adam(b1=o.beta1, b2=o.beta2, eps=o.eps), optax.add_decayed_weights(o.weight_decay))
    state = {"params": handle.params, "opt": tx.init(handle.params)}
    key = jax.random.PRNGKey(0)

    def train_step(params: Any, opt_state: Any, tokens: Any, mask: Any, labels: Any, lr: Any, step: Any) -> Any:
        def loss_fn(p: Any) -> Any:
            logits = model.apply({"params": p}, tokens, mask, train=True, rngs={"dropout": jax.random.fold_in(key, step)})
            return optax.softmax_cross_entropy_with_integer_labels(logits, labels).mean()

        loss, grads = jax.value_and_grad(loss_fn)(params)
        updates, opt_state = tx.update(grads, opt_state, params)
        return jax.tree.map(lambda p, u: p - lr * u, params, updates), opt_state, loss

    b0 = s.warmup[0]
    t0 = time.perf_counter()
    with jax.default_matmul_precision("float32"):
        compiled = jax.jit(train_step).lower(
            state["params"], state["opt"], b0.tokens, b0.mask, b0.labels, jnp.float32(0), jnp.uint32(0)
        ).compile()
    compile_s = time.perf_counter() - t0

    def steps(batches: list[Batch], start: int) -> Any:
        loss = None
        for k, b in enumerate(batches, start=start):
            state["params"], state["opt"], loss = compiled(
                state["params"], state["opt"], b.tokens, b.mask, b.labels, np.float32(_lr(s, k)), np.uint32(k)
            )
        return loss

    steps(s.warmup, 0).block_until_ready()

    def run() -> float:
        t0 = time.perf_counter()
        float(steps(s.timed, len(s.warmup)))
        return (time.perf_counter() - t0) / len(s.timed)

    return run, compile_s


def core_jax_compile_seconds(s: Setup) -> float:
    handle = s.build()
    handle.train_step(s.warmup[0], 0.0)
    s.backend.sync()
    return float(handle.compile_seconds)


# ---- driver ---------------------------------------------------------------------------------------
def measure(name: str, timers: dict[str, Callable[[], float]], repeats: int) -> dict[str, list[float]]:
    times: dict[str, list[float]] = {k: [] for k in timers}
    order = list(timers)
    for r in range(repeats):
        # Rotate the order so slow drift on a shared CPU does not favour one side.
        for label in order[r % len(order):] + order[: r % len(order)]:
            times[label].append(timers[label]())
        print(f"  {name} repeat {r + 1}/{repeats}: " + ", ".join(f"{k} {1e3 * v[-1]:.2f}" for k, v in times.items())
              + " ms/step", flush=True)
    return times


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--framework", choices=["torch", "jax", "all"], default="all")
    p.add_argument("--task", default="listops")
    p.add_argument("--preset", default="smoke")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    p.add_argument("--steps", type=int, default=30, help="timed steps per measurement")
    p.add_argument("--warmup", type=int, default=3, help="untimed steps first (compile, caches)")
    p.add_argument("--repeats", type=int, default=7)
    p.add_argument("--threads", type=int, default=1,
                   help="CPU threads per framework (default 1: steadier on a shared CPU; 0 leaves the default)")
    args = p.parse_args(argv)
    if args.warmup < 1:
        p.error("--warmup must be at least 1")
    if args.threads > 0:
        # Before the plugins import the frameworks: XLA reads its flags once.
        os.environ.setdefault("XLA_FLAGS", "--xla_cpu_multi_thread_eigen=false intra_op_parallelism_threads=1"
                              if args.threads == 1 else "")
        try:
            import torch

            torch.set_num_threads(args.threads)
        except ImportError:
            pass
    frameworks = ["torch", "jax"] if args.framework == "all" else [args.framework]
    reg = get_registry()
    rows = []
    for fw in frameworks:
        if f"{fw}/transformer" not in reg.models or fw not in reg.backends:
            print(f"{fw}: skipped ({fw}/transformer or the {fw} backend is not installed)")
            continue
        s = Setup(args, fw)
        print(f"{fw}/transformer on {args.task} ({args.preset}; batch {s.resolved.training.batch_size}, "
              f"length {s.resolved.model_length}, d_model {s.config.d_model}, {s.config.num_layers} layer(s)); "
              f"{args.steps} timed steps after {args.warmup} warm-up, {args.repeats} interleaved repeats, "
              f"threads {args.threads or 'default'}", flush=True)
        timers = {"bare": make_bare_torch(s) if fw == "torch" else None, "backend": make_backend_only(s), "core": make_core(s)}
        compile_note = "-"
        if fw == "jax":
            timers["bare"], bare_compile = make_bare_jax(s)
            compile_note = f"bare {bare_compile:.2f}, core {core_jax_compile_seconds(s):.2f}"
        times = measure(fw, timers, args.repeats)  # type: ignore[arg-type]
        med = {k: statistics.median(v) for k, v in times.items()}
        pairs = statistics.median(c / b for b, c in zip(times["bare"], times["core"]))
        rows.append((fw, med, pairs, compile_note))
    load = os.getloadavg() if hasattr(os, "getloadavg") else (float("nan"),) * 3
    print()
    print(f"CPU: {os.cpu_count()} cores, load average {load[0]:.1f} / {load[1]:.1f} / {load[2]:.1f} (1/5/15 min); "
          "a shared CPU makes these numbers noisy: compare medians")
    print(f"{'framework':10} {'bare ms':>9} {'backend ms':>11} {'core ms':>9} {'core/bare':>10} {'(pairs)':>8} "
          f"{'core/backend':>13} {'backend/bare':>13}  compile (s)")
    for fw, m, pairs, comp in rows:
        flag = "" if m["core"] / m["bare"] <= 1.03 else "  (core/bare above the 1.03 target)"
        print(f"{fw:10} {1e3 * m['bare']:9.2f} {1e3 * m['backend']:11.2f} {1e3 * m['core']:9.2f} "
              f"{m['core'] / m['bare']:10.3f} {pairs:8.3f} {m['core'] / m['backend']:13.3f} "
              f"{m['backend'] / m['bare']:13.3f}  {comp}{flag}")
    print("bare: hand-written loop; backend: the backend's train_step in a plain loop; core: lra_core's TrainLoop "
          "(core/backend is the loop's own overhead, backend/bare the backend's)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
