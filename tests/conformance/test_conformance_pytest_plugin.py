"""The pytest front: `pytest --lra-plugin MODEL` and `parametrize_with_checks` give one test per check."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap
from pathlib import Path

import pytest

pytest.importorskip("lra_torch")

HERE = Path(__file__).resolve().parent


def pytest_run(cwd: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "LRA_PLUGINS": "torch", "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-rA", "-q", *args],
        capture_output=True, text=True, env=env, cwd=cwd, timeout=600,
    )


def test_lra_plugin_option_runs_each_check_as_its_own_test(tmp_path):
    out = pytest_run(
        tmp_path,
        "--lra-plugin", "torch/cf-ok", "--lra-plugin", "torch/cf-ignores-mask",
        "--lra-load", "broken_torch_encoders", "--lra-check", "card_valid,padding_mask",
        "-k", "not cf-ok::card_valid",  # -k applies to the added tests
    )
    assert out.returncode == 1, out.stdout + out.stderr
    text = out.stdout
    assert "PASSED lra_conformance[torch/cf-ok::padding_mask]" in text
    assert "PASSED lra_conformance[torch/cf-ignores-mask::card_valid]" in text
    assert "FAILED lra_conformance[torch/cf-ignores-mask::padding_mask]" in text
    assert "cf-ok::card_valid" not in text.split("short test summary")[1]
    assert "declares padding_mask=True, but tokens" in text  # the check's own message, no traceback
    assert "1 failed, 2 passed, 1 deselected" in text


def test_parametrize_helper_in_a_third_party_suite(tmp_path):
    (tmp_path / "test_mine.py").write_text(textwrap.dedent('''
        from lra_conformance.pytest_plugin import parametrize_with_checks

        @parametrize_with_checks(
            ["torch/cf-ok", "torch/cf-xfail-declared", "torch/cf-oversized"],
            checks=["padding_mask", "param_budget"],
            modules=["broken_torch_encoders"],
        )
        def test_contract(lra_check):
            lra_check()
    '''))
    out = pytest_run(tmp_path, "test_mine.py", "-W", "default")
    assert out.returncode == 0, out.stdout + out.stderr
    text = out.stdout
    assert "PASSED test_mine.py::test_contract[torch/cf-ok::padding_mask]" in text
    assert "XFAIL test_mine.py::test_contract[torch/cf-xfail-declared::padding_mask]" in text
    assert "attends to padding (known, tracked in issue 99)" in text
    assert "ConformanceWarning: param_budget:" in text  # a warning, not a failure
    assert "5 passed, 1 xfailed" in text


def test_without_the_option_the_plugin_adds_nothing(tmp_path):
    (tmp_path / "test_x.py").write_text("def test_x():\n    pass\n")
    out = pytest_run(tmp_path)
    assert out.returncode == 0 and "1 passed" in out.stdout and "lra_conformance" not in out.stdout
