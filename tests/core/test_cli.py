"""The CLI: one-line user errors with exit 2, `lra list --json`, and a pip-installed third-party plugin."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
FIXTURE = ROOT / "tests" / "fixtures" / "lra-example-plugin"


def lra(*args: str, env: dict | None = None) -> subprocess.CompletedProcess:
    full_env = {**os.environ, **(env or {})}
    return subprocess.run(
        [sys.executable, "-m", "lra_core.cli.main", *args],
        capture_output=True, text=True, env=full_env, timeout=300,
    )


def test_unknown_flag_is_one_line_exit_2():
    out = lra("list", "--nope")
    assert out.returncode == 2
    assert out.stderr.strip().count("\n") == 0
    assert "unrecognized arguments: --nope" in out.stderr
    assert "Traceback" not in out.stderr


def test_unknown_model_is_one_line_exit_2_and_debug_shows_traceback():
    out = lra("run", "--plugin", "torch/no-such-model", "--task", "listops")
    assert out.returncode == 2, out.stderr
    assert "unknown model 'torch/no-such-model'" in out.stderr
    assert "Traceback" not in out.stderr
    dbg = lra("run", "--plugin", "torch/no-such-model", "--task", "listops", "--debug")
    assert dbg.returncode == 2 and "Traceback" in dbg.stderr


def test_list_json_shows_first_party_backends_and_tasks():
    out = lra("list", "--json")
    assert out.returncode == 0, out.stderr
    data = json.loads(out.stdout)
    frameworks = {b["framework"]: b for b in data["backends"]}
    assert {"torch", "jax"} <= set(frameworks)
    assert frameworks["torch"]["distribution"] == "lra-torch"
    assert frameworks["jax"]["distribution"] == "lra-jax"
    assert any(t["id"] == "listops" and t["distribution"] == "lra-arena" for t in data["tasks"])


def test_pip_installed_third_party_plugin_appears_in_list(tmp_path):
    target = tmp_path / "site"
    pip = subprocess.run(
        [sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(FIXTURE)],
        capture_output=True, text=True, timeout=300,
    )
    if pip.returncode != 0:
        pytest.fail(f"pip install of the fixture plugin failed: {pip.stderr[-2000:]}")
    env = {"PYTHONPATH": str(target) + os.pathsep + os.environ.get("PYTHONPATH", "")}
    out = lra("list", "models", "--json", env=env)
    assert out.returncode == 0, out.stderr
    models = {m["id"]: m for m in json.loads(out.stdout)["models"]}
    assert models["example/echo"]["distribution"] == "lra-example-plugin"
    assert models["example/echo"]["version"] == "1.2.3"
    text = lra("list", "models", env=env)
    assert "example/echo" in text.stdout and "lra-example-plugin 1.2.3" in text.stdout
