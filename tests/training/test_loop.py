"""The core loop on a NumPy backend and in-memory batches: curve, best checkpoint, divergence, resume."""

from __future__ import annotations

import time

import numpy as np
import pytest

import lra_training_fakes as fakes
from lra_core import Batch, EncoderInputs, HeadSpec, OptimizerSettings
from lra_core.resolve import resolve
from lra_core.training import LoopState, RunDir, TrainLoop
from lra_core.training.metrics import EvalAccumulator


class ListSource:
    """Seeded, resume-exact batches from arrays (what lra_core.data.Batcher promises)."""

    def __init__(self, split: str, n: int, batch_size: int, flip_after: int | None = None) -> None:
        rng = np.random.default_rng({"train": 1, "validation": 2, "test": 3}[split])
        self.tokens = rng.integers(2, 8, size=(n, 12)).astype(np.int32)
        lengths = rng.integers(4, 13, size=n)
        self.mask = np.arange(12)[None, :] < lengths[:, None]
        self.tokens[~self.mask] = 0
        counts = np.stack([((self.tokens == t) & self.mask).sum(1) for t in (2, 3, 4)], 1)
        self.labels = counts.argmax(1).astype(np.int32)
        self.num_examples = n
        self.batch_size = batch_size
        self.flip_after = flip_after  # validation only: wrong labels after this many evaluations
        self.evals = 0

    def _batch(self, idx: np.ndarray, labels: np.ndarray | None = None) -> Batch:
        return Batch(self.tokens[idx], self.mask[idx], (self.labels if labels is None else labels)[idx])

    def train_batches(self, seed: int, start_step: int = 0):
        step = start_step
        while True:
            rng = np.random.default_rng([seed, step])
            yield self._batch(rng.choice(self.num_examples, self.batch_size, replace=False))
            step += 1

    def eval_batches(self, max_batches: int | None = None):
        self.evals += 1
        labels = self.labels
        if self.flip_after is not None and self.evals > self.flip_after:
            labels = ((labels + 1) % 3).astype(np.int32)
        starts = range(0, self.num_examples, self.batch_size)
        for i, lo in enumerate(starts):
            if max_batches is not None and i >= max_batches:
                return
            yield self._batch(np.arange(lo, min(lo + self.batch_size, self.num_examples)), labels)


def setup(tmp_path, name="run", flip_after=None, **training):
    resolved, config = resolve(fakes.CARD, fakes.TASK, "smoke", {f"training.{k}": v for k, v in training.items()})
    t = resolved.training
    sources = (ListSource("train", 320, t.batch_size), ListSource("validation", 64, t.batch_size, flip_after),
               ListSource("test", 80, t.batch_size))

    def make_handle():
        return fakes.NumpyBackend().build(
            fakes.CARD, config, EncoderInputs(vocab_size=8, max_length=12), seed=0,
            head=HeadSpec.for_task(resolved, mlp_dim=config.mlp_dim), optimizer=OptimizerSettings.from_training(t),
        )

    rundir = RunDir.create(tmp_path, name)

    def make_loop(handle):
        return TrainLoop(handle, fakes.NumpyBackend(), t, rundir, *sources, seed=3, progress=False)

    return make_handle, make_loop, rundir, sources


def strip_timing(curve):
    return [{k: v for k, v in r.items() if k not in ("steps_per_second", "train_seconds")} for r in curve]


def test_run_to_completion_writes_curve_and_both_test_numbers(tmp_path):
    make_handle, make_loop, rundir, (_, _, test) = setup(tmp_path)
    handle = make_handle()
    out = make_loop(handle).run()
    assert out.status == "completed"
    assert out.state.step == 60
    curve = rundir.read_curve()
    train_steps = [r["step"] for r in curve if r.get("split") == "train"]
    assert train_steps == [20, 40, 60]  # one train line per evaluation here (log_every = min(eval_every, 50))
    assert [r["step"] for r in curve if r.get("split") == "validation"] == [20, 40, 60]
    finals = [r for r in curve if r.get("phase") == "final"]
    assert [r["checkpoint"] for r in finals] == ["last", "best"]
    assert out.test.examples == 80
    # LRA protocol: the test number is the final model's accuracy on the whole test split.
    acc = EvalAccumulator()
    for b in test.eval_batches():
        acc.update(handle.eval_step(b), b.labels)
    assert acc.compute().accuracy == out.test.accuracy
    assert out.test.accuracy > 0.45  # learned something (chance is about 1/3)
    assert rundir.latest_checkpoint()[1]["step"] == 60


def test_test_at_best_uses_the_best_validation_parameters(tmp_path):
    # Validation labels turn wrong after the first evaluation, so step 20 stays the best.
    make_handle, make_loop, rundir, (_, _, test) = setup(tmp_path, flip_after=1)
    handle = make_handle()
    out = make_loop(handle).run()
    assert out.state.best_step == 20
    best_params, step = rundir.load_best()
    assert step == 20
    fresh = make_handle()
    fresh.import_params(best_params)
    acc = EvalAccumulator()
    for b in test.eval_batches():
        acc.update(fresh.eval_step(b), b.labels)
    assert out.test_at_best.accuracy == acc.compute().accuracy
    assert out.test_at_best.loss == pytest.approx(acc.compute().loss)
    assert out.test_at_best.loss != out.test.loss


def test_nan_loss_stops_with_the_exact_step(tmp_path, monkeypatch):
    monkeypatch.setenv("LRA_FAKE_NAN_AT_STEP", "37")
    make_handle, make_loop, rundir, _ = setup(tmp_path)
    out = make_loop(make_handle()).run()
    assert out.status == "diverged"
    assert out.diverged_at_step == 37
    assert np.isnan(out.diverged_loss)
    last = rundir.read_curve()[-1]
    assert last == {"step": 37, "phase": "train", "event": "diverged", "loss": "nan"}
    # Losses are read lazily: step 37 is found although the loop synchronises only at step 40.
    assert out.state.step == 40


def test_sigint_leaves_a_resumable_run_with_identical_results(tmp_path, monkeypatch):
    make_handle, make_loop, ref_dir, _ = setup(tmp_path, "reference")
    reference = make_loop(make_handle()).run()

    monkeypatch.setenv("LRA_FAKE_SIGINT_AT_STEP", "33")
    make_handle, make_loop, rundir, _ = setup(tmp_path, "interrupted")
    out = make_loop(make_handle()).run()
    assert out.status == "interrupted"
    assert out.state.step == 33
    monkeypatch.delenv("LRA_FAKE_SIGINT_AT_STEP")

    backend_dir, state = rundir.latest_checkpoint()
    assert state["step"] == 33
    handle = make_handle()
    handle.load_checkpoint(backend_dir)
    rundir.truncate_curve(state["step"])
    resumed = make_loop(handle).run(LoopState.from_dict(state))
    assert resumed.status == "completed"
    assert resumed.test == reference.test
    assert resumed.test_at_best == reference.test_at_best
    assert resumed.state.best_validation == reference.state.best_validation
    assert resumed.state.last_train_loss == reference.state.last_train_loss
    assert strip_timing(rundir.read_curve()) == strip_timing(ref_dir.read_curve())


def test_compile_time_is_not_training_time(tmp_path):
    make_handle, make_loop, _, _ = setup(tmp_path)
    handle = make_handle()
    handle.compile_seconds = 0.0
    inner = handle.train_step

    def compiling_first_step(batch, lr):
        if handle.updates == 0:  # like JAX: the first step at a shape compiles
            time.sleep(1.0)
            handle.compile_seconds += 1.0
        return inner(batch, lr)

    handle.train_step = compiling_first_step
    out = make_loop(handle).run()
    assert out.status == "completed"
    assert out.state.train_seconds < 1.0
    assert out.state.timed_steps == 60


def test_parameter_budget_warning_follows_lra_rule():
    from lra_core.training.run import parameter_budget_warning

    assert parameter_budget_warning(110, 100) is None
    assert parameter_budget_warning(100, None) is None
    msg = parameter_budget_warning(150, 100)
    assert msg is not None and "150%" in msg and "110%" in msg
