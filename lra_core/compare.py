"""Cross-framework parity of two models, through backend primitives only (any pair of frameworks).

Three checks, as ``lra compare`` runs them:

1. **Eval parity.** Parameters exported from model A (canonical names) are imported into model B;
   encoder outputs and logits on the same batch must agree within ``rtol`` relative to the largest
   magnitude of A's output (fp32).
2. **Training parity.** From those same initial parameters, with dropout 0, both train on the same
   batches at the same learning rates (the task's schedule); the per-step losses must agree within
   ``loss_tol``.
3. **Speed and memory**, side by side: steps/s over the training steps after the first (which
   compiles in JAX and warms up caches in torch), with a device sync at both edges, and the peak
   memory the backend reports for its run.

The frameworks run one after the other in this process, so timings are indicative only.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from .backend import Backend, HeadSpec, ModelHandle, OptimizerSettings
from .batch import Batch
from .cards import EncoderConfig, EncoderInputs, ModelCard
from .errors import UserError
from .specs import ResolvedTask

#: Shared dimensions that must be equal for two models to be comparable.
SHARED_FIELDS = ("d_model", "num_heads", "num_layers", "mlp_dim", "qkv_dim", "positional")
#: Settings that make both runs deterministic and comparable.
NO_DROPOUT = {"model.dropout": 0.0, "model.attention_dropout": 0.0}


def relative_error(reference: np.ndarray, other: np.ndarray) -> float:
    """``max |a - b| / max |a|`` (the largest deviation relative to the output's scale)."""
    a = np.asarray(reference, dtype=np.float64)
    b = np.asarray(other, dtype=np.float64)
    if a.shape != b.shape:
        raise ValueError(f"outputs differ in shape: {a.shape} vs {b.shape}")
    scale = float(np.max(np.abs(a))) if a.size else 0.0
    diff = float(np.max(np.abs(a - b))) if a.size else 0.0
    return diff / max(scale, np.finfo(np.float32).tiny)


@dataclass
class SideStats:
    """One framework's side of the comparison."""

    model: str
    framework: str
    steps_per_second: float | None
    peak_memory_bytes: int | None
    compile_seconds: float | None
    device: dict[str, Any] = field(default_factory=dict)


@dataclass
class CompareReport:
    model_a: str
    model_b: str
    task: str
    preset: str
    batch_size: int
    steps: int
    rtol: float
    loss_tol: float
    encoder_rel_error: float
    logits_rel_error: float
    losses_a: list[float]
    losses_b: list[float]
    sides: list[SideStats]

    @property
    def max_loss_diff(self) -> float:
        if not self.losses_a:
            return 0.0
        return float(np.max(np.abs(np.asarray(self.losses_a) - np.asarray(self.losses_b))))

    @property
    def eval_ok(self) -> bool:
        return self.encoder_rel_error <= self.rtol and self.logits_rel_error <= self.rtol

    @property
    def train_ok(self) -> bool:
        finite = bool(np.all(np.isfinite(self.losses_a)) and np.all(np.isfinite(self.losses_b)))
        return finite and self.max_loss_diff <= self.loss_tol

    @property
    def passed(self) -> bool:
        return self.eval_ok and self.train_ok

    def as_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(max_loss_diff=self.max_loss_diff, eval_ok=self.eval_ok, train_ok=self.train_ok, passed=self.passed)
        return d

    def format(self) -> str:
        def verdict(ok: bool) -> str:
            return "ok" if ok else "FAIL"

        mib = lambda b: "n/a" if b is None else f"{b / 2**20:.1f} MiB"  # noqa: E731
        num = lambda x, f: "n/a" if x is None else format(x, f)  # noqa: E731
        lines = [
            f"compare {self.model_a} vs {self.model_b} on {self.task} ({self.preset}), batch {self.batch_size}",
            f"  eval parity  encoder rel err {self.encoder_rel_error:.2e}, logits rel err "
            f"{self.logits_rel_error:.2e} (tol {self.rtol:.0e})  {verdict(self.eval_ok)}",
            f"  train parity max |loss diff| over {self.steps} steps {self.max_loss_diff:.2e} "
            f"(tol {self.loss_tol:.0e}); final loss {self._last(self.losses_a)} vs "
            f"{self._last(self.losses_b)}  {verdict(self.train_ok)}",
            "",
            f"  {'model':<28} {'steps/s':>9} {'peak memory':>13} {'compile s':>10}  device",
        ]
        for s in self.sides:
            dev = f"{s.device.get('kind', '?')}: {s.device.get('name', '?')} x{s.device.get('count', 1)}"
            lines.append(
                f"  {s.model:<28} {num(s.steps_per_second, '9.2f'):>9} {mib(s.peak_memory_bytes):>13} "
                f"{num(s.compile_seconds, '10.2f'):>10}  {dev}"
            )
        lines.append("  (both frameworks ran in one process, one after the other; timings are indicative)")
        lines.append(f"parity {'PASSED' if self.passed else 'FAILED'}")
        return "\n".join(lines)

    @staticmethod
    def _last(losses: Sequence[float]) -> str:
        return f"{losses[-1]:.4f}" if losses else "n/a"


@dataclass
class Side:
    """What one framework needs for the comparison: its card, backend and resolved settings."""

    card: ModelCard
    backend: Backend
    task: ResolvedTask
    config: EncoderConfig

    def build(self, seed: int) -> ModelHandle:
        inputs = EncoderInputs(vocab_size=self.task.vocab_size, max_length=self.task.model_length)
        head = HeadSpec.for_task(self.task, self.config.mlp_dim)
        return self.backend.build(
            self.card, self.config, inputs, seed=seed, head=head,
            optimizer=OptimizerSettings.from_training(self.task.training),
        )


def check_comparable(a: Side, b: Side) -> None:
    """Both sides must describe the same architecture and task setting."""
    for name in SHARED_FIELDS:
        va, vb = getattr(a.config, name), getattr(b.config, name)
        if va != vb:
            raise UserError(f"compare: model.{name} differs ({a.card.id}: {va}, {b.card.id}: {vb}); set it with --set")
    if a.task.spec_hash() != b.task.spec_hash():
        raise UserError(
            f"compare: {a.card.id} and {b.card.id} resolve the task differently (card task_overrides); "
            "align them with --set"
        )
    for s in (a, b):
        if s.config.dropout or s.config.attention_dropout:
            raise UserError(f"compare: {s.card.id} must run with dropout 0 (model.dropout, model.attention_dropout)")


def _encoder_view(batch: Batch) -> tuple[np.ndarray, np.ndarray]:
    """Tokens/mask as the encoder sees them: pair tasks' two towers stacked along the batch."""
    if batch.is_pair:
        b, two, length = batch.tokens.shape
        return batch.tokens.reshape(b * two, length), batch.mask.reshape(b * two, length)
    return batch.tokens, batch.mask


def _train(
    side: Side,
    handle: ModelHandle,
    batches: Sequence[Batch],
    lr: Callable[[int], float],
    progress: Callable[[str], Any] | None,
) -> tuple[list[float], SideStats]:
    be = side.backend
    be.sync()
    be.reset_peak_memory()
    losses: list[Any] = []
    t_start = None
    iterator: Iterable[tuple[int, Batch]] = enumerate(batches)
    if progress is not None:
        iterator = progress(side.card.id)(iterator)  # type: ignore[operator]
    for step, batch in iterator:
        losses.append(handle.train_step(batch, lr(step)))
        if step == 0:
            # The first step compiles (JAX) or warms up (torch); time the rest.
            be.sync()
            t_start = time.perf_counter()
    be.sync()
    elapsed = time.perf_counter() - t_start if t_start is not None else 0.0
    timed = len(batches) - 1
    steps_per_second = timed / elapsed if timed > 0 and elapsed > 0 else None
    stats = SideStats(
        model=side.card.id,
        framework=side.card.framework,
        steps_per_second=steps_per_second,
        peak_memory_bytes=be.peak_memory_bytes(),
        compile_seconds=getattr(handle, "compile_seconds", None),
        device=be.describe_device(),
    )
    return [float(x) for x in losses], stats


def compare_sides(
    a: Side,
    b: Side,
    *,
    eval_batch: Batch,
    train_batches: Sequence[Batch],
    learning_rate: Callable[[int], float],
    seed: int = 0,
    rtol: float = 1e-5,
    loss_tol: float = 1e-3,
    progress: Callable[[str], Any] | None = None,
) -> CompareReport:
    """Run the eval and training parity checks on given batches (see module docstring)."""
    check_comparable(a, b)
    handle_a = a.build(seed)
    handle_b = b.build(seed + 1)  # a different init, so the import below is what makes them equal
    handle_b.import_params(handle_a.export_params())

    tokens, mask = _encoder_view(eval_batch)
    enc_err = relative_error(handle_a.encode(tokens, mask), handle_b.encode(tokens, mask))
    logit_err = relative_error(handle_a.eval_step(eval_batch), handle_b.eval_step(eval_batch))

    batches = list(train_batches)
    losses_a, stats_a = _train(a, handle_a, batches, learning_rate, progress)
    losses_b, stats_b = _train(b, handle_b, batches, learning_rate, progress)
    return CompareReport(
        model_a=a.card.id,
        model_b=b.card.id,
        task=a.task.task,
        preset=a.task.preset,
        batch_size=eval_batch.size,
        steps=len(batches),
        rtol=rtol,
        loss_tol=loss_tol,
        encoder_rel_error=enc_err,
        logits_rel_error=logit_err,
        losses_a=losses_a,
        losses_b=losses_b,
        sides=[stats_a, stats_b],
    )


def synthetic_batches(task: ResolvedTask, batch_size: int, count: int, seed: int = 0) -> list[Batch]:
    """Random batches of the task's shape (for tests of the parity logic, not for reported numbers).

    Tokens avoid pad and CLS; a CLS token is prepended when the task pools by CLS; each row has a
    random real length and padding after it.
    """
    rng = np.random.default_rng(seed)
    length = task.model_length
    shape = (batch_size, 2, length) if task.input == "pair" else (batch_size, length)
    reserved = {task.pad_id, task.cls_id}
    allowed = np.array([t for t in range(task.vocab_size) if t not in reserved], dtype=np.int32)
    out = []
    for _ in range(count):
        tokens = rng.choice(allowed, size=shape).astype(np.int32)
        lengths = rng.integers(max(1, length // 2), length + 1, size=shape[:-1])
        mask = np.arange(length) < lengths[..., None]
        tokens = np.where(mask, tokens, task.pad_id).astype(np.int32)
        if task.pooling == "cls":
            tokens[..., 0] = task.cls_id
            mask[..., 0] = True
        labels = rng.integers(0, task.num_classes, size=batch_size).astype(np.int32)
        out.append(Batch(tokens, mask, labels))
    return out


def resolve_side(
    registry: Any, model: str, task: Any, preset: str, sets: dict[str, Any], device: str
) -> Side:
    """Card, backend (fp32) and settings of one model, with dropout forced to 0."""
    from .resolve import resolve

    card = registry.model(model)
    resolved, config = resolve(card, task, preset, {**sets, **NO_DROPOUT})
    backend = registry.backend(card.framework)(device=device, precision="fp32")
    return Side(card=card, backend=backend, task=resolved, config=config)


def task_batches(
    task: Any,
    resolved: ResolvedTask,
    *,
    steps: int,
    batch_size: int,
    seed: int,
    source: str | None = None,
    data_path: str | None = None,
) -> tuple[Batch, list[Batch]]:
    """The real task data: the first validation batch and ``steps`` training batches (data order seed)."""
    from itertools import islice
    from pathlib import Path

    from .data import Batcher, load_dataset
    from .tasks import BuildRequest

    src = source or task.spec.default_source
    if src not in task.spec.sources:
        raise UserError(f"--source: task {task.id!r} has no source {src!r}; choose one of {', '.join(task.spec.sources)}")
    request = BuildRequest(task=resolved, source=src, path=Path(data_path) if data_path else None, seed=0)
    data = load_dataset(task, request, build_if_missing=True)
    eval_batch = next(Batcher(data["validation"], resolved, batch_size).eval_batches(1))
    train = list(islice(Batcher(data["train"], resolved, batch_size).train_batches(seed), steps))
    return eval_batch, train


def run_compare(
    registry: Any,
    model_a: str,
    model_b: str,
    task_id: str,
    *,
    preset: str = "code",
    sets: dict[str, Any] | None = None,
    steps: int = 50,
    batch_size: int | None = None,
    seed: int = 0,
    device: str = "auto",
    rtol: float = 1e-5,
    loss_tol: float = 1e-3,
    source: str | None = None,
    data_path: str | None = None,
    progress: Callable[[str], Any] | None = None,
) -> CompareReport:
    """``lra compare``: resolve both models on the task, load its data, run :func:`compare_sides`."""
    from .training.schedule import LearningRateSchedule

    if steps < 1:
        raise UserError(f"--steps {steps}: must be at least 1")
    task = registry.task(task_id)
    a = resolve_side(registry, model_a, task, preset, dict(sets or {}), device)
    b = resolve_side(registry, model_b, task, preset, dict(sets or {}), device)
    check_comparable(a, b)
    bs = batch_size or a.task.training.batch_size
    if bs < 1:
        raise UserError(f"--batch-size {bs}: must be at least 1")
    eval_batch, train = task_batches(
        task, a.task, steps=steps, batch_size=bs, seed=seed, source=source, data_path=data_path
    )
    return compare_sides(
        a, b,
        eval_batch=eval_batch,
        train_batches=train,
        learning_rate=LearningRateSchedule(a.task.training),
        seed=seed,
        rtol=rtol,
        loss_tol=loss_tol,
        progress=progress,
    )
