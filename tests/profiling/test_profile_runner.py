"""End to end through worker processes, with a test backend that sleeps, OOMs, raises or dies."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from lra_core.cli.main import main as lra_main
from lra_core.profiling import ProfileProtocol, run_profile
from lra_core.profiling.record import read_profile
from lra_core.reports import efficiency_report

HERE = Path(__file__).resolve().parent
PLUGIN = "lra_fake_profile_plugin"
LENGTHS = [128, 256]
BATCH = 2


@pytest.fixture(scope="module")
def fake_env():
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("LRA_DISABLE_PLUGIN_AUTOLOAD", "1")  # only the fake plugin: fast workers
        mp.setenv("PYTHONPATH", str(HERE))
        mp.syspath_prepend(str(HERE))
        yield mp


@pytest.fixture(scope="module")
def records(fake_env):
    protocol = ProfileProtocol(
        lengths=LENGTHS, batch_size=BATCH, task="fake-text", preset="smoke", warmup_steps=1, measured_steps=3, repeats=2
    )
    models = ["fake/transformer", "fake/oomer", "fake/crasher", "fake/killer"]
    return run_profile(models, protocol, modules=[PLUGIN], invocation_id="inv1", progress=False)


def _get(records, model, length):
    (rec,) = [r for r in records if r.model.id == model and r.task.length == length]
    return rec


def test_records_in_order_and_failures_recorded(records):
    assert [(r.model.id, r.task.length) for r in records] == [
        (m, n) for m in ["fake/transformer", "fake/oomer", "fake/crasher", "fake/killer"] for n in LENGTHS
    ]
    status = {(r.model.id, r.task.length): r.status for r in records}
    assert status[("fake/transformer", 128)] == status[("fake/transformer", 256)] == "ok"
    # Each failing model still measured its short length: the table went on after failures.
    for m in ("fake/oomer", "fake/crasher", "fake/killer"):
        assert status[(m, 128)] == "ok"
    assert status[("fake/oomer", 256)] == "oom"
    assert "out of memory" in _get(records, "fake/oomer", 256).error
    assert status[("fake/crasher", 256)] == "error"
    assert "step failed" in _get(records, "fake/crasher", 256).error
    # Killed by SIGKILL without writing a record: the runner writes one (the OOM killer's signature).
    killed = _get(records, "fake/killer", 256)
    assert killed.status == "oom" and "SIGKILL" in killed.error and killed.worker["returncode"] == -9
    assert all(r.invocation_id == "inv1" for r in records)


def test_ok_record_has_every_field(records):
    rec = _get(records, "fake/transformer", 256)
    model_length = 256 + 1  # CLS prepended
    assert rec.kind == "profile" and rec.model.framework == "fake" and rec.model.name == "transformer"
    assert rec.model.config["d_model"] == 8 and rec.model.num_params == 17
    assert rec.task.id == "fake-text" and rec.task.preset == "smoke" and rec.task.model_length == model_length
    assert rec.task.batch_size == BATCH and rec.task.input == "single"
    assert rec.task.spec_hash and rec.task.setting_hash
    other = _get(records, "fake/transformer", 128)
    assert other.task.setting_hash == rec.task.setting_hash and other.task.spec_hash != rec.task.spec_hash
    t = rec.timings
    assert len(t.step_seconds) == 2 and all(len(b) == 3 for b in t.step_seconds)
    assert len(t.warmup_seconds) == 1 and t.first_step_seconds > 0 and t.build_seconds is not None
    samples = sorted(s for b in t.step_seconds for s in b)
    assert t.stats.n == 6 and t.stats.median == pytest.approx((samples[2] + samples[3]) / 2)
    assert t.steps_per_second == pytest.approx(1 / t.stats.median)
    assert t.examples_per_second == pytest.approx(BATCH / t.stats.median)
    # The fake step sleeps 2 ms * (L/128)^2: the median cannot be faster than that.
    assert t.stats.median >= 0.002 * (model_length / 128) ** 2
    assert t.compile_source == "first call minus steady-state median" and t.compile_seconds >= 0
    assert rec.memory.peak_bytes == BATCH * model_length**2 * 4 and rec.memory.counter == "fake simulated bytes"
    f = rec.flops
    assert f.analytic_forward == 2 * BATCH * model_length**2 * 8 and f.analytic_step == 3 * f.analytic_forward
    assert f.counted_step == 1234.0 and "counted" in f.counted_by
    assert f.device_peak_flops == pytest.approx(66.9e12)  # "Fake H100 ..." at fp32
    assert f.mfu == pytest.approx(f.analytic_step * t.steps_per_second / 66.9e12)
    assert rec.final_loss == 0.5 and rec.device["name"].startswith("Fake H100")
    assert rec.environment["git"] and rec.environment["python"] and "threads" in rec.environment
    assert rec.worker["wall_seconds"] > 0


def test_table_completes_with_failures(records):
    text = efficiency_report(records).split("### Profile details")[0]
    lines = {line.split("|")[1].strip(): line for line in text.splitlines() if line.startswith("| fake/")}
    assert "OOM" in lines["fake/oomer"] and "ERROR" in lines["fake/crasher"] and "OOM" in lines["fake/killer"]
    base = _get(records, "fake/transformer", 128).timings.steps_per_second
    assert f"{base:.2f}" in lines["fake/transformer"]
    oomer = _get(records, "fake/oomer", 128).timings.steps_per_second
    assert f"{oomer:.2f} ({oomer / base:.2f}x)" in lines["fake/oomer"]


def test_cli_adds_baseline_writes_json_and_report_reads_it(fake_env, tmp_path, capsys):
    out = tmp_path / "prof.json"
    rc = lra_main([
        "profile", "-p", PLUGIN, "--plugin", "linear,capped", "--task", "fake-text", "--preset", "smoke",
        "--lengths", "128,256", "--batch-size", "2", "--warmup", "0", "--steps", "2", "--repeats", "1",
        "--json", str(out), "--quiet", "--threads", "1",
    ])
    assert rc == 0
    printed = capsys.readouterr()
    assert "added fake/transformer as the ratio baseline" in printed.err
    assert "| fake/transformer |" in printed.out and "Environment" in printed.out and "git commit" in printed.out
    capped = [line for line in printed.out.splitlines() if line.startswith("| fake/capped |")][0]
    assert "n/a" in capped  # beyond the card's max_length (200): skipped, not run
    raw = json.loads(out.read_text())
    assert raw["kind"] == "profile-set" and len(raw["records"]) == 6
    recs = read_profile(out)
    assert {r.model.id for r in recs} == {"fake/transformer", "fake/linear", "fake/capped"}
    assert all(r.environment["threads"]["OMP_NUM_THREADS"] == "1" for r in recs if r.status == "ok")
    rc = lra_main(["report", str(out), "--no-registry"])
    assert rc == 0
    report = capsys.readouterr().out
    lin = [r for r in recs if r.model.id == "fake/linear" and r.task.length == 128][0]
    assert f"{lin.timings.steps_per_second:.2f}" in report


def test_cli_bad_flags_are_one_line_errors(fake_env, capsys):
    assert lra_main(["profile", "-p", PLUGIN, "--plugin", "nosuch", "--task", "fake-text", "--preset", "smoke"]) == 2
    assert "unknown model" in capsys.readouterr().err
    assert lra_main(["profile", "-p", PLUGIN, "--plugin", "linear", "--task", "fake-text", "--preset", "smoke",
                     "--set", "model.bogus=1", "--lengths", "128"]) == 2
    assert "bogus" in capsys.readouterr().err
    assert lra_main(["profile", "-p", PLUGIN, "--plugin", "linear", "--batch-size", "0"]) == 2
    assert "--batch-size" in capsys.readouterr().err
