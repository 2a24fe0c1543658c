"""Pathfinder / Path-X task registrations: specs, building, rendering and exporting."""

from __future__ import annotations


import numpy as np
import pytest
from PIL import Image

from lra_core import BuildRequest
from lra_core.errors import MissingDataError, UserError
from lra_task_specs.pathfinder import generator as g
from lra_task_specs.pathfinder.builder import TASKS
from lra_task_specs.plugin import builtin_tasks

BY_ID = {t.id: t for t in TASKS}


def request(task_id: str, source: str = "generated", splits=(24, 6, 6), **kw) -> BuildRequest:
    resolved = BY_ID[task_id].spec.resolved("smoke")
    resolved = resolved.model_copy(update={"splits": dict(zip(("train", "validation", "test"), splits))})
    return BuildRequest(task=resolved, source=source, options={"workers": 1}, **kw)


def test_all_variants_are_registered_with_lra_settings():
    names = [f"{b}{d}" for b in ("pathfinder", "pathfinder64", "pathx", "pathx256")
             for d in ("", "-intermediate", "-easy")]
    assert sorted(BY_ID) == sorted(names)
    assert {"pathfinder", "pathx", "pathx256-easy"} <= {t.id for t in builtin_tasks()}
    pf, px = BY_ID["pathfinder"].spec, BY_ID["pathx"].spec
    assert (pf.max_length, pf.pooling, pf.vocab_size, pf.cls_id) == (1024, "mean", 256, None)
    assert pf.splits == {"train": 160000, "validation": 20000, "test": 20000}
    code = pf.resolved("code")
    assert (code.encoder.num_layers, code.encoder.num_heads, code.encoder.d_model, code.encoder.qkv_dim) == (4, 4, 32, 16)
    assert code.encoder.positional == "sinusoidal" and code.training.batch_size == 512
    assert pf.reference["transformer"] == 71.40
    assert px.max_length == 16384 and px.pooling == "mean" and px.reference["transformer"] is None
    assert px.resolved("code").training.grad_clip_norm == 1.0
    for name in ("pathfinder64", "pathx256-easy"):
        spec = BY_ID[name].spec
        assert (spec.pooling, spec.vocab_size, spec.cls_id) == ("cls", 257, 256)
        assert any("256" in d and "CLS" in d for d in spec.deviations)
    for t in TASKS:
        smoke = t.spec.resolved("smoke")
        assert sum(smoke.splits.values()) <= 1000 and smoke.training.num_train_steps <= 50
        assert smoke.max_length == t.spec.max_length  # smoke keeps the real resolution
    assert "easy" in BY_ID["pathfinder-easy"].spec.title


def test_build_generated_columns_and_geometry():
    dd = BY_ID["pathfinder"].builder(request("pathfinder", seed=5))
    assert {s: len(dd[s]) for s in dd} == {"train": 24, "validation": 6, "test": 6}
    train = dd["train"].with_format("numpy")[:]
    inputs = train["inputs"]
    assert inputs.shape == (24, 1024) and inputs.min() >= 0 and inputs.max() == 255
    feature = dd["train"].features["inputs"]
    assert feature.feature.dtype == "uint8" and feature.length == 1024  # stored as fixed-size uint8
    assert set(np.unique(train["label"])) == {0, 1} and train["label"].sum() == 12
    # Splits are consecutive global index ranges; any image regenerates alone from its index.
    assert list(dd["validation"]["index"]) == list(range(24, 30))
    one = g.generate_one(g.params_for(32, "hard"), seed=5, index=int(dd["test"]["index"][2]))
    assert np.array_equal(np.asarray(dd["test"]["inputs"][2], np.uint8), one.images[0].ravel())
    tips = train["snake_tips"].reshape(-1, 2, 2, 2)
    ar = np.arange(24)
    assert np.array_equal(train["marker_origin"], tips[ar, train["origin_snake"], 0])
    assert np.array_equal(train["marker_terminal"], tips[ar, train["terminal_snake"], 1])
    assert np.array_equal(train["label"], (train["origin_snake"] == train["terminal_snake"]).astype(int))


def test_seed_and_difficulty_change_data():
    a = BY_ID["pathfinder"].builder(request("pathfinder", splits=(4, 2, 2), seed=0))
    b = BY_ID["pathfinder"].builder(request("pathfinder", splits=(4, 2, 2), seed=1))
    c = BY_ID["pathfinder-easy"].builder(request("pathfinder-easy", splits=(4, 2, 2), seed=0))
    assert a["train"]["inputs"] != b["train"]["inputs"]
    assert a["train"]["inputs"] != c["train"]["inputs"]
    assert len(c["train"]["snake_pivots"][0]) == 2 * 6 * 2


def test_render_writes_png_with_label(tmp_path):
    task = BY_ID["pathfinder"]
    dd = task.builder(request("pathfinder", splits=(2, 1, 1)))
    ex = dd["train"][1]
    text = task.render(ex, tmp_path)
    written = tmp_path / f"pathfinder_index1_label{ex['label']}.png"
    assert written.is_file() and str(written) in text and f"label {ex['label']}" in text
    with Image.open(written) as im:
        assert im.size == (512, 512) and im.info["Title"].startswith(f"pathfinder label {ex['label']}")
        big = np.asarray(im)
    assert np.array_equal(big[::16, ::16].ravel(), np.asarray(ex["inputs"], np.uint8))
    assert "label" in task.render(ex, None)
    assert task.render(ex, tmp_path / "x.png").startswith("wrote")


def test_export_then_read_official(tmp_path):
    task = BY_ID["pathfinder"]
    dd = task.builder(request("pathfinder", splits=(8, 2, 2), seed=2))
    task.exporter(dd, tmp_path)
    cdir = tmp_path / "curv_contour_length_14"
    assert (cdir / "imgs" / "0" / "sample_11.png").is_file()
    back = task.builder(request("pathfinder", source="official", splits=(8, 2, 2), path=tmp_path, seed=0))
    assert {s: len(back[s]) for s in back} == {"train": 8, "validation": 2, "test": 2}

    def pairs(d):
        return sorted((bytes(np.asarray(r["inputs"], np.uint8)), int(r["label"])) for s in d for r in d[s])

    assert pairs(back) == pairs(dd)
    # Fewer images than the split sizes: cut 80/10/10 of what is there.
    few = task.builder(request("pathfinder", source="official", splits=(800, 100, 100), path=tmp_path))
    assert {s: len(few[s]) for s in few} == {"train": 10, "validation": 1, "test": 1}


def test_official_source_errors(tmp_path):
    task = BY_ID["pathx"]
    with pytest.raises(MissingDataError, match="--path"):
        task.builder(request("pathx", source="official"))
    with pytest.raises(MissingDataError, match="pathfinder128"):
        task.builder(request("pathx", source="official", path=tmp_path))
    with pytest.raises(UserError, match="--source 'hf'"):
        task.builder(request("pathx", source="hf"))
