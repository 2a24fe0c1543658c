"""The real path: torch/ and jax/transformer on generated ListOps, killed with SIGKILL and resumed (slow)."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from lra_core.results import read_result

ARGS = ["run", "--task", "listops", "--preset", "smoke", "--skip-conformance",
        "--device", "cpu", "--set", "training.num_train_steps=40", "--set", "training.eval_every=5"]
CODE = "import sys; from lra_core.cli.main import main; sys.exit(main(sys.argv[1:]))"


def _env(data_dir: Path, framework: str) -> dict[str, str]:
    return {**os.environ, "LRA_DATA_DIR": str(data_dir), "LRA_PLUGINS": f"tasks,{framework}"}


def _run_dir(out: Path) -> Path:
    (run,) = [p for p in out.iterdir() if (p / "run.json").exists()]
    return run


def _strip(curve: list[dict]) -> list[dict]:
    return [{k: v for k, v in r.items() if k not in ("steps_per_second", "train_seconds")} for r in curve]


@pytest.mark.slow
@pytest.mark.parametrize("framework", ["torch", "jax"])
def test_listops_resume_after_sigkill_is_exact(tmp_path, framework):
    pytest.importorskip(f"lra_{framework}.backend")
    args = [*ARGS, "--plugin", f"{framework}/transformer"]
    data = tmp_path / "data"
    ref = subprocess.run([sys.executable, "-c", CODE, *args, "--output", str(tmp_path / "ref")],
                         env=_env(data, framework), capture_output=True, text=True, timeout=600)
    assert ref.returncode == 0, ref.stderr[-2000:]
    out = tmp_path / "killed"
    proc = subprocess.Popen([sys.executable, "-c", CODE, *args, "--output", str(out)], env=_env(data, framework),
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    # Kill once a mid-run checkpoint exists (step 10 to 30 of 40).
    deadline = time.monotonic() + 300
    killed_at = None
    while time.monotonic() < deadline and proc.poll() is None:
        states = list(out.glob("*/checkpoints/last/loop_state.json"))
        if states:
            try:
                step = json.loads(states[0].read_text())["step"]
            except (OSError, ValueError, KeyError):
                step = 0
            if 10 <= step <= 30:
                proc.send_signal(signal.SIGKILL)
                killed_at = step
                break
        time.sleep(0.05)
    proc.wait(timeout=60)
    if killed_at is None:
        pytest.skip("the run finished before it could be killed (machine too fast for this timing)")
    run = _run_dir(out)
    assert read_result(run / "result.json").status == "running"
    resumed = subprocess.run([sys.executable, "-c", CODE, "run", "--resume", str(run)],
                             env=_env(data, framework), capture_output=True, text=True, timeout=600)
    assert resumed.returncode == 0, resumed.stderr[-2000:]
    a, b = read_result(_run_dir(tmp_path / "ref") / "result.json"), read_result(run / "result.json")
    assert b.status == "completed"
    for key in ("validation", "test", "best_step", "best_validation", "test_at_best", "final_train_loss"):
        assert getattr(b.metrics, key) == getattr(a.metrics, key), key
    curve = lambda p: [json.loads(x) for x in (p / "curve.jsonl").read_text().splitlines()]  # noqa: E731
    assert _strip(curve(run)) == _strip(curve(_run_dir(tmp_path / "ref")))
