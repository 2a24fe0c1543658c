"""`lra conformance` / `lra-conformance`: exit codes 0/1/2, the table, --json and --check."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

pytest.importorskip("lra_torch")

from lra_core.cli.main import main  # noqa: E402

HERE = Path(__file__).resolve().parent


def conformance(capsys, *args: str) -> tuple[int, str, str]:
    """In process (the console script is checked once, in a subprocess, below)."""
    code = main(["conformance", "-p", "broken_torch_encoders", "--no-progress", *args])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_passing_model_exits_0_with_a_table_and_json(capsys, tmp_path):
    code, out, err = conformance(capsys, "--plugin", "torch/cf-ok", "--check", "card_valid", "padding_mask", "--json", str(tmp_path / "r.json"))
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0].startswith("conformance of torch/cf-ok")
    assert any(line.startswith("card_valid") and " pass " in line for line in lines)
    assert lines[-1] == "torch/cf-ok: OK (2 pass)"
    report = json.loads((tmp_path / "r.json").read_text())
    assert report["ok"] is True and report["model"] == "torch/cf-ok"
    assert [r["check"] for r in report["results"]] == ["card_valid", "padding_mask"]  # --check filters


def test_failing_check_exits_1_and_json_to_stdout_names_the_failure(capsys):
    code, out, err = conformance(capsys, "--plugin", "torch/cf-ignores-mask", "--check", "padding_mask,bidirectional", "--json", "-")
    assert code == 1, err
    report = json.loads(out)  # the table went to stderr
    status = {r["check"]: r["status"] for r in report["results"]}
    assert status == {"padding_mask": "fail", "bidirectional": "pass"}
    assert report["ok"] is False and "FAILED" in err


def test_expected_failure_exits_0_and_is_listed(capsys):
    code, out, err = conformance(capsys, "--plugin", "torch/cf-xfail-declared", "--check", "padding_mask")
    assert code == 0, err
    assert "expected-failure" in out and "[declared: attends to padding" in out


@pytest.mark.parametrize("args, message", [
    (["--plugin", "torch/cf-ok", "--check", "nope"], "unknown check(s) nope"),
    (["--plugin", "torch/no-such-model"], "unknown model 'torch/no-such-model'"),
    ([], "--plugin MODEL is required"),
    (["--plugin", "torch/cf-ok", "--check", "padding_mask", "--device", "tpu9"], "--device"),
    (["--plugin", "torch/cf-ok", "--precision", "fp8"], "invalid choice"),
])
def test_usage_errors_exit_2_on_one_line(capsys, args, message):
    code, out, err = conformance(capsys, *args)
    assert code == 2, (out, err)
    assert message in err
    assert "Traceback" not in err and err.strip().count("\n") == 0


def test_list_checks(capsys):
    code, out, _ = conformance(capsys, "--list-checks")
    assert code == 0 and "padding_mask" in out and "complexity" in out


def test_console_script_exit_status():
    env = {**os.environ, "LRA_PLUGINS": "torch", "PYTHONPATH": os.pathsep.join([str(HERE), os.environ.get("PYTHONPATH", "")])}
    script = Path(sys.executable).with_name("lra-conformance")
    out = subprocess.run(
        [str(script), "-p", "broken_torch_encoders", "--plugin", "torch/cf-causal", "--check", "bidirectional"],
        capture_output=True, text=True, env=env, timeout=600,
    )
    assert out.returncode == 1, out.stderr
    assert "bidirectional" in out.stdout and "causal" in out.stdout
