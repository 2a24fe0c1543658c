"""The training loop every framework shares: steps, LR schedule, evaluation, checkpoints, curve.

Step numbers count optimizer updates from 1; update ``k`` runs at ``schedule(k - 1)`` (LRA's update
counter starts at 0). Every ``eval_every`` updates and after the last one the validation split is
evaluated; the best validation accuracy (ties: lower loss, then the earlier step) keeps its
parameters. After training the test split is evaluated on the last checkpoint (LRA's protocol,
``test``) and on the best-validation parameters (reported apart, ``test_at_best``).

The loss a backend returns may be a device scalar. The loop keeps each step's loss unsynchronised
and reads them every ``log_every`` steps (and before an evaluation or checkpoint), so the device
queue stays full, yet a NaN/inf is pinned to the exact step that produced it.

Resume is exact: a checkpoint holds the backend state (parameters, optimizer, RNG) and
:class:`LoopState`; the batcher restarts at the checkpoint's step; the curve is cut back to it.
"""

from __future__ import annotations

import math
import signal
import threading
import time
from contextlib import contextmanager
from dataclasses import asdict, dataclass, field
from typing import Any, Iterator, Literal, Protocol, SupportsFloat

import numpy as np
from tqdm.auto import tqdm

from ..backend import Backend, ModelHandle
from ..batch import Batch
from ..specs import TrainingSettings
from .metrics import EvalAccumulator, EvalResult
from .rundir import RunDir
from .schedule import LearningRateSchedule


class BatchSource(Protocol):
    """What the loop needs from a batcher (``lra_core.data.Batcher``)."""

    num_examples: int

    def train_batches(self, seed: int, start_step: int = 0) -> Iterator[Batch]: ...

    def eval_batches(self, max_batches: int | None = None) -> Iterator[Batch]: ...


class Diverged(Exception):
    def __init__(self, step: int, loss: float) -> None:
        super().__init__(f"loss became {loss} at step {step}")
        self.step = step
        self.loss = loss


@dataclass
class LoopState:
    """Everything besides the backend's checkpoint that a resumed run needs to continue exactly."""

    step: int = 0
    best_step: int | None = None
    best_validation: dict[str, Any] | None = None
    last_validation: dict[str, Any] | None = None
    last_validation_step: int | None = None
    # Train-loss window since the last curve line (a window may span a checkpoint).
    window_loss_sum: float = 0.0
    window_steps: int = 0
    last_train_loss: float | None = None
    train_seconds: float = 0.0
    eval_seconds: float = 0.0
    #: Steps timed in ``train_seconds`` (over all sessions of a resumed run).
    timed_steps: int = 0
    sessions: int = 0

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "LoopState":
        known = {f for f in cls.__dataclass_fields__}
        return cls(**{k: v for k, v in d.items() if k in known})


@dataclass
class LoopOutcome:
    status: Literal["completed", "diverged", "interrupted"]
    state: LoopState
    diverged_at_step: int | None = None
    diverged_loss: float | None = None
    test: EvalResult | None = None
    test_at_best: EvalResult | None = None
    extra: dict[str, Any] = field(default_factory=dict)


def _better(new: EvalResult, best: dict[str, Any] | None) -> bool:
    if best is None:
        return True
    if new.accuracy != best["accuracy"]:
        return new.accuracy > best["accuracy"]
    return new.loss < best["loss"]


def _finite_repr(x: float) -> float | str:
    """JSON has no NaN/inf: write them as strings."""
    return x if math.isfinite(x) else str(x)


@contextmanager
def _sigint_flag() -> Iterator[threading.Event]:
    """First Ctrl-C sets a flag the loop honours at the next step boundary; a second one aborts."""
    flag = threading.Event()
    if threading.current_thread() is not threading.main_thread():
        yield flag
        return
    previous = signal.getsignal(signal.SIGINT)

    def handler(signum: int, frame: Any) -> None:
        if flag.is_set():
            signal.signal(signal.SIGINT, previous)
            raise KeyboardInterrupt
        flag.set()
        tqdm.write("interrupt: saving a checkpoint after this step (Ctrl-C again to abort at once)")

    signal.signal(signal.SIGINT, handler)
    try:
        yield flag
    finally:
        signal.signal(signal.SIGINT, previous)


class TrainLoop:
    """Runs one training job on a built :class:`ModelHandle`, writing into a :class:`RunDir`."""

    def __init__(
        self,
        handle: ModelHandle,
        backend: Backend,
        settings: TrainingSettings,
        rundir: RunDir,
        train: BatchSource,
        validation: BatchSource,
        test: BatchSource,
        *,
        seed: int,
        log_every: int | None = None,
        progress: bool | None = True,
        description: str = "train",
    ) -> None:
        self.handle = handle
        self.backend = backend
        self.settings = settings
        self.rundir = rundir
        self.train = train
        self.validation = validation
        self.test = test
        self.seed = seed
        self.schedule = LearningRateSchedule(settings)
        # Losses are read (a device sync) once per curve line; LRA logged train metrics per evaluation.
        self.log_every = log_every or max(1, min(settings.eval_every, 50))
        self.progress = progress
        self.description = description
        self._pending: list[tuple[int, SupportsFloat]] = []
        self._segment_start = 0.0
        self._segment_steps = 0
        self._compile_mark = 0.0
        self._bar: Any = None
        self._postfix: dict[str, str] = {}

    # ---- pieces ------------------------------------------------------------------------------
    def evaluate(self, source: BatchSource, max_batches: int | None) -> EvalResult:
        acc = EvalAccumulator()
        for batch in source.eval_batches(max_batches):
            acc.update(self.handle.eval_step(batch), batch.labels)
        return acc.compute()

    def _flush(self, state: LoopState) -> None:
        """Read the pending device losses (this synchronises) and close the timing segment."""
        for step, loss in self._pending:
            value = float(loss)
            if not math.isfinite(value):
                self._pending.clear()
                raise Diverged(step, value)
            state.window_loss_sum += value
            state.window_steps += 1
        self._pending.clear()
        now = time.perf_counter()
        # Compilation (JAX's first step at a shape) is reported apart, not as training time.
        compiling = self._compile_seconds() - self._compile_mark
        state.train_seconds += max(0.0, now - self._segment_start - compiling)
        state.timed_steps += self._segment_steps
        self._start_segment()

    def _compile_seconds(self) -> float:
        return float(getattr(self.handle, "compile_seconds", 0.0) or 0.0)

    def _start_segment(self) -> None:
        self._segment_start, self._segment_steps = time.perf_counter(), 0
        self._compile_mark = self._compile_seconds()

    def _log_train(self, state: LoopState, lr: float) -> None:
        if not state.window_steps:
            return
        mean = state.window_loss_sum / state.window_steps
        state.last_train_loss = mean
        rate = state.timed_steps / state.train_seconds if state.train_seconds > 0 else None
        self.rundir.append_curve(
            {"step": state.step, "phase": "train", "split": "train", "loss": mean, "lr": lr,
             "steps_per_second": rate, "train_seconds": state.train_seconds}
        )
        state.window_loss_sum, state.window_steps = 0.0, 0
        self._postfix["loss"] = f"{mean:.4f}"
        self._postfix["lr"] = f"{lr:.2e}"
        self._refresh_bar()

    def _refresh_bar(self) -> None:
        if self._bar is not None:
            self._bar.set_postfix(self._postfix, refresh=False)

    def _validate(self, state: LoopState) -> None:
        t0 = time.perf_counter()
        result = self.evaluate(self.validation, self.settings.num_eval_batches)
        state.eval_seconds += time.perf_counter() - t0
        improved = _better(result, state.best_validation)
        state.last_validation, state.last_validation_step = result.as_dict(), state.step
        if improved:
            state.best_validation, state.best_step = result.as_dict(), state.step
            self.rundir.save_best(self.handle.export_params(), state.step)
        self.rundir.append_curve(
            {"step": state.step, "phase": "train", "split": "validation", **result.as_dict(), "best": improved}
        )
        self._postfix["val_acc"] = f"{result.accuracy:.4f}"
        self._refresh_bar()

    def _checkpoint(self, state: LoopState) -> None:
        self.rundir.save_checkpoint(state.to_dict(), self.handle.save_checkpoint)

    # ---- the run -----------------------------------------------------------------------------
    def run(self, state: LoopState | None = None) -> LoopOutcome:
        """Train from ``state`` (a fresh run when None) to the end, then evaluate the test split."""
        state = state or LoopState()
        state.sessions += 1
        total = self.settings.num_train_steps
        every_ckpt = self.settings.checkpoint_every
        # The whole schedule up front: one NumPy call instead of one per step.
        lrs = self.schedule.values(np.arange(total)).tolist()
        lr = lrs[max(state.step - 1, 0)]
        with _sigint_flag() as interrupted:
            if state.step < total:
                self._bar = tqdm(
                    total=total, initial=state.step, desc=self.description, unit="step",
                    disable=not self.progress, dynamic_ncols=True, mininterval=0.5,
                )
                batches = self.train.train_batches(self.seed, start_step=state.step)
                self._start_segment()
                try:
                    for step in range(state.step + 1, total + 1):
                        batch = next(batches)
                        lr = lrs[step - 1]
                        self._pending.append((step, self.handle.train_step(batch, lr)))
                        self._segment_steps += 1
                        state.step = step
                        self._bar.update(1)
                        last = step == total
                        do_eval = last or step % self.settings.eval_every == 0
                        do_ckpt = last or (step % every_ckpt == 0 if every_ckpt else do_eval)
                        stop = interrupted.is_set()
                        if do_eval or do_ckpt or stop or step % self.log_every == 0:
                            self._flush(state)
                            if last or step % self.log_every == 0:
                                self._log_train(state, lr)
                        if do_eval:
                            self._validate(state)
                            self._start_segment()  # evaluation time is not training time
                        if do_ckpt or stop:
                            self._checkpoint(state)
                            self._start_segment()
                        if stop and not last:
                            return LoopOutcome("interrupted", state)
                except Diverged as d:
                    self.rundir.append_curve(
                        {"step": d.step, "phase": "train", "event": "diverged", "loss": _finite_repr(d.loss)}
                    )
                    self.rundir.sync_curve()
                    return LoopOutcome("diverged", state, diverged_at_step=d.step, diverged_loss=d.loss)
                finally:
                    self._bar.close()
                    self._bar = None
            return self._final(state)

    def _final(self, state: LoopState) -> LoopOutcome:
        """LRA's protocol (test on the last checkpoint), plus test on the best-validation parameters."""
        t0 = time.perf_counter()
        test = self.evaluate(self.test, self.settings.num_test_batches)
        self.rundir.append_curve(
            {"step": state.step, "phase": "final", "split": "test", "checkpoint": "last", **test.as_dict()}
        )
        test_at_best = test
        if state.best_step is not None and state.best_step != state.step:
            loaded = self.rundir.load_best()
            if loaded is None or loaded[1] != state.best_step:
                raise RuntimeError(
                    f"best-validation parameters for step {state.best_step} are missing from {self.rundir.best_path}"
                )
            self.handle.import_params(loaded[0])
            test_at_best = self.evaluate(self.test, self.settings.num_test_batches)
        self.rundir.append_curve(
            {"step": state.best_step, "phase": "final", "split": "test", "checkpoint": "best", **test_at_best.as_dict()}
        )
        state.eval_seconds += time.perf_counter() - t0
        self.rundir.sync_curve()
        return LoopOutcome("completed", state, test=test, test_at_best=test_at_best)
