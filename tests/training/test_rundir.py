"""Run directory: atomic checkpoint swap, fallback after a kill mid-swap, curve truncation."""

import json
import os

import numpy as np

from lra_core.training.rundir import RunDir, make_run_id


def save(rd: RunDir, step: int) -> None:
    def backend(d):
        d.mkdir(parents=True)
        (d / "w.txt").write_text(str(step))

    rd.save_checkpoint({"step": step}, backend)


def test_checkpoint_swap_and_fallback(tmp_path):
    rd = RunDir.create(tmp_path, make_run_id("torch/transformer", "listops", "smoke", 0))
    assert rd.path.name.startswith("torch-transformer-listops-smoke-s0-")
    assert RunDir.create(tmp_path, rd.path.name).path.name == rd.path.name + "-2"
    assert rd.latest_checkpoint() is None
    save(rd, 10)
    save(rd, 20)
    backend_dir, state = rd.latest_checkpoint()
    assert state == {"step": 20} and (backend_dir / "w.txt").read_text() == "20"
    # A kill between "last -> .prev" and ".tmp -> last" leaves only .prev: it is used.
    os.replace(rd.checkpoints / "last", rd.checkpoints / ".prev")
    (rd.checkpoints / ".tmp-x").mkdir()
    assert rd.latest_checkpoint()[1] == {"step": 20}
    rd.clean_partial()
    assert not (rd.checkpoints / ".tmp-x").exists()


def test_best_params_round_trip_and_curve_truncation(tmp_path):
    rd = RunDir.create(tmp_path, "r")
    rd.save_best({"encoder.a": np.arange(3, dtype=np.float32)}, 40)
    params, step = rd.load_best()
    assert step == 40 and params["encoder.a"].tolist() == [0, 1, 2]
    for s in (10, 20, 30):
        rd.append_curve({"step": s, "phase": "train"})
    rd.append_curve({"step": 20, "phase": "final"})
    with open(rd.curve_path, "a") as f:
        f.write('{"step": 40, "pha')  # torn line from a kill
    assert rd.truncate_curve(20) == 2
    assert [json.loads(x)["step"] for x in rd.curve_path.read_text().splitlines()] == [10, 20]
