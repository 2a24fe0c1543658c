"""``lra-run`` end to end on the NumPy test plugin: the record, resume after SIGKILL, failures, flags."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
from pathlib import Path

import pytest

from lra_core.cli.main import main
from lra_core.results import RunResult, read_result

HERE = Path(__file__).resolve().parent
BASE = ["run", "-p", "lra_training_fakes", "--plugin", "numpy/bag", "--task", "tiny", "--preset", "smoke"]
METRIC_KEYS = ("validation", "test", "best_step", "best_validation", "test_at_best", "final_train_loss")


@pytest.fixture(scope="module")
def data_dir(tmp_path_factory):
    return tmp_path_factory.mktemp("lra-data")


@pytest.fixture(autouse=True)
def isolated(monkeypatch, data_dir):
    # Only the test plugin: no torch/jax imports, no built-in tasks.
    monkeypatch.setenv("LRA_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("LRA_DATA_DIR", str(data_dir))
    for name in ("NAN", "KILL", "SIGINT", "FAIL"):
        monkeypatch.delenv(f"LRA_FAKE_{name}_AT_STEP", raising=False)
    monkeypatch.delenv("LRA_FAKE_CAUSAL", raising=False)


def run_dirs(out: Path) -> list[Path]:
    return sorted(p for p in out.iterdir() if (p / "run.json").exists())


def subprocess_run(args: list[str], data_dir: Path, **env: str) -> subprocess.CompletedProcess:
    full_env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")]),
        "LRA_DISABLE_PLUGIN_AUTOLOAD": "1",
        "LRA_DATA_DIR": str(data_dir),
        **env,
    }
    code = "import sys; from lra_core.cli.main import main; sys.exit(main(sys.argv[1:]))"
    return subprocess.run([sys.executable, "-c", code, *args], env=full_env, capture_output=True, text=True, timeout=120)


def strip_timing(curve: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("steps_per_second", "train_seconds")} for r in curve]


def read_curve(run: Path) -> list[dict]:
    return [json.loads(line) for line in (run / "curve.jsonl").read_text().splitlines()]


def test_tiny_run_writes_a_complete_valid_record(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*BASE, "--output", str(out)]) == 0
    (run,) = run_dirs(out)
    assert run.name.startswith("numpy-bag-tiny-smoke-s0-")
    raw = json.loads((run / "result.json").read_text())
    RunResult.model_validate(raw)  # strict schema: no unknown or missing fields
    r = read_result(run / "result.json")
    assert r.status == "completed" and r.steps_completed == r.num_train_steps == 60
    assert r.model.id == "numpy/bag" and r.model.num_params == 8 * 8 + 3 * 8 + 3
    assert r.model.distribution == "module lra_training_fakes"
    assert r.task.spec_hash == r.task.spec_hash and len(r.task.spec_hash) == 16
    assert r.task.resolved["training"]["num_train_steps"] == 60
    m = r.metrics
    assert m.validation.examples == 64 and m.test.examples == 80 and m.test_at_best.examples == 80
    assert 0.4 < m.test.accuracy < 1.0
    assert m.best_step in (20, 40, 60) and m.best_validation.accuracy >= m.validation.accuracy
    assert r.timings.steps_per_second > 0 and r.timings.wall_seconds > 0
    assert r.peak_memory_bytes == 1234
    env = r.environment
    assert {"os", "cpu", "python", "git", "device"} <= set(env)
    assert set(env["git"]) == {"commit", "dirty"}
    assert env["device"]["name"] == "numpy"
    assert r.conformance["status"] == "passed" and r.conformance["report"]["ok"]
    assert "tiny test task" in r.deviations
    assert any("best-validation checkpoint" in d for d in r.deviations)
    curve = read_curve(run)
    assert [c["checkpoint"] for c in curve if c["phase"] == "final"] == ["last", "best"]
    assert curve[-2]["accuracy"] == m.test.accuracy
    text = capsys.readouterr().out
    assert "completed after 60/60 steps" in text and str(run / "result.json") in text


def test_resume_after_sigkill_gives_identical_metrics(tmp_path, data_dir):
    reference = subprocess_run([*BASE[:-2], "--preset", "smoke", "--output", str(tmp_path / "ref"), "--skip-conformance"], data_dir)
    assert reference.returncode == 0, reference.stderr
    out = tmp_path / "killed"
    killed = subprocess_run([*BASE, "--output", str(out), "--skip-conformance"], data_dir, LRA_FAKE_KILL_AT_STEP="47")
    assert killed.returncode == -signal.SIGKILL
    (run,) = run_dirs(out)
    assert read_result(run / "result.json").status == "running"
    assert max(c["step"] for c in read_curve(run)) == 40  # last checkpoint: the evaluation at step 40
    resumed = subprocess_run(["run", "--resume", str(run)], data_dir)
    assert resumed.returncode == 0, resumed.stderr
    (ref_run,) = run_dirs(tmp_path / "ref")
    a, b = read_result(ref_run / "result.json"), read_result(run / "result.json")
    assert b.status == "completed"
    for key in METRIC_KEYS:
        assert getattr(b.metrics, key) == getattr(a.metrics, key), key
    assert strip_timing(read_curve(run)) == strip_timing(read_curve(ref_run))


def test_divergence_is_recorded_with_its_step(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LRA_FAKE_NAN_AT_STEP", "37")
    out = tmp_path / "out"
    assert main([*BASE, "--output", str(out), "--skip-conformance"]) == 1
    (run,) = run_dirs(out)
    r = read_result(run / "result.json")
    assert r.status == "diverged" and r.diverged_at_step == 37
    assert r.metrics.test is None
    assert "diverged at step 37" in capsys.readouterr().out
    assert main(["run", "--resume", str(run)]) == 2  # a diverged run is not resumed


def test_failing_model_marks_the_run_failed_without_traceback(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LRA_FAKE_FAIL_AT_STEP", "5")
    out = tmp_path / "out"
    assert main([*BASE, "--output", str(out), "--skip-conformance"]) == 1
    err = capsys.readouterr().err
    assert "Traceback" not in err
    assert "error: run failed: RuntimeError: injected model failure at step 5" in err
    (run,) = run_dirs(out)
    r = read_result(run / "result.json")
    assert r.status == "failed" and "injected model failure" in r.error
    assert main([*BASE, "--output", str(out), "--skip-conformance", "--debug"]) == 1
    assert "Traceback" in capsys.readouterr().err


def test_conformance_failure_refuses_the_model_unless_skipped(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("LRA_FAKE_CAUSAL", "1")
    out = tmp_path / "out"
    assert main([*BASE, "--output", str(out)]) == 1
    err = capsys.readouterr().err
    assert "fails the conformance checks" in err and "bidirectional" in err
    assert not out.exists() or not run_dirs(out)
    assert main([*BASE, "--output", str(out), "--skip-conformance"]) == 0
    (run,) = run_dirs(out)
    r = read_result(run / "result.json")
    assert r.conformance == {"status": "skipped", "reason": "--skip-conformance"}
    assert any("--skip-conformance" in d for d in r.deviations)


def test_sigint_leaves_an_interrupted_resumable_run(tmp_path, monkeypatch):
    monkeypatch.setenv("LRA_FAKE_SIGINT_AT_STEP", "25")
    out = tmp_path / "out"
    assert main([*BASE, "--output", str(out), "--skip-conformance"]) == 130
    (run,) = run_dirs(out)
    r = read_result(run / "result.json")
    assert r.status == "interrupted" and r.steps_completed == 25
    monkeypatch.delenv("LRA_FAKE_SIGINT_AT_STEP")
    assert main(["run", "--resume", str(run)]) == 0
    assert read_result(run / "result.json").status == "completed"
    assert main(["run", "--resume", str(run)]) == 2  # already completed


def test_several_seeds_report_mean_and_std(tmp_path, capsys):
    out = tmp_path / "out"
    assert main([*BASE, "--output", str(out), "--skip-conformance", "--seeds", "0,1"]) == 0
    runs = run_dirs(out)
    assert [read_result(r / "result.json").seed for r in runs] == [0, 1]
    text = capsys.readouterr().out
    assert "over 2 seed(s) [0, 1]: test accuracy" in text and "±" in text


def test_task_all_skips_tasks_without_data_and_prints_a_table(tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["run", "-p", "lra_training_fakes", "--plugin", "numpy/bag", "--task", "all", "--preset", "smoke",
            "--output", str(out), "--skip-conformance"]
    assert main(argv) == 0
    captured = capsys.readouterr()
    assert "skipping task tiny-nodata" in captured.err
    assert [read_result(r / "result.json").task.id for r in run_dirs(out)] == ["tiny"]
    assert "tiny" in captured.out.split("result:")[-1]


@pytest.mark.parametrize(
    "extra, needle",
    [
        (["--set", "training.nope=1"], "training.nope"),
        (["--set", "model.d_model=-3"], "d_model"),
        (["--set", "oops"], "KEY=VALUE"),
        (["--seeds", "0,x"], "--seeds"),
        (["--device", "tpu"], "device"),
        (["--preset", "huge"], "--preset"),
        (["--source", "web"], "--source"),
    ],
)
def test_bad_flags_are_one_line_errors_with_exit_2(tmp_path, capsys, extra, needle):
    assert main([*BASE, "--output", str(tmp_path), *extra]) == 2
    err = capsys.readouterr().err.strip()
    assert len(err.splitlines()) == 1 and needle in err and err.startswith("error:")


def test_bad_model_task_and_resume_usage(tmp_path, capsys):
    assert main(["run", "-p", "lra_training_fakes", "--plugin", "numpy/nope", "--task", "tiny"]) == 2
    assert main(["run", "-p", "lra_training_fakes", "--task", "tiny"]) == 2
    assert main(["run", "--resume", str(tmp_path)]) == 2
    assert main(["run", "--resume", str(tmp_path), "--plugin", "numpy/bag"]) == 2
    errs = capsys.readouterr().err.strip().splitlines()
    assert len(errs) == 4 and all(e.startswith("error:") for e in errs)
    assert "--plugin" in errs[3]
