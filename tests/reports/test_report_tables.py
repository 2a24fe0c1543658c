"""Reports from records the tests write: numbers equal the records', averaging rules, separation."""

from __future__ import annotations

import json
import statistics

import pytest

from lra_core.cli.main import main as lra_main
from lra_core.errors import UserError
from lra_core.io import write_json_atomic
from lra_core.reports import build_report, load_records, lra_table, render
from lra_core.reports.cross_framework import cross_framework_tables
from lra_core.reports.efficiency import efficiency_tables
from lra_core.reports.lra import lra_tables
from report_records import profile, run

TASKS5 = ["listops", "text", "retrieval", "image", "pathfinder"]


def _row(table, label):
    (row,) = [r for r in table.rows if r[0] == label]
    return dict(zip(table.columns, row))


def full_model(model, accs, seeds=(0, 1, 2), pathx=None, **kw):
    """accs: task -> list of accuracies (fractions), one per seed."""
    out = []
    for task, values in accs.items():
        for seed, acc in zip(seeds, values):
            out.append(run(model, task, seed, acc, **kw))
    if pathx is not None:
        out += [run(model, "pathx", s, a, examples=20000, **kw) for s, a in zip(seeds, pathx)]
    return out


ACCS = {
    "listops": [0.36, 0.37, 0.38],
    "text": [0.64, 0.65, 0.66],
    "retrieval": [0.57, 0.58, 0.56],
    "image": [0.42, 0.43, 0.44],
    "pathfinder": [0.71, 0.72, 0.70],
}


def test_cells_mean_std_seeds_and_scores():
    runs = full_model("torch/transformer", ACCS, pathx=[0.50, 0.502, 0.499])
    warnings: list[str] = []
    (table,) = lra_tables(runs, warnings=warnings)
    row = _row(table, "torch/transformer")
    for task, title in zip(TASKS5, ["ListOps", "Text", "Retrieval", "Image", "Pathfinder"]):
        vals = [100 * a for a in ACCS[task]]
        assert row[title] == f"{statistics.fmean(vals):.2f} ± {statistics.stdev(vals):.2f} (3)"
    means = [statistics.fmean(100 * a for a in ACCS[t]) for t in TASKS5]
    assert row["Path-X"].startswith("FAIL")
    assert row["Avg (5 tasks)"] == f"{statistics.fmean(means):.2f}"
    assert row["Avg (6, Path-X FAIL=50)"] == f"{statistics.fmean(means + [50.0]):.2f}"
    data = [d for d in table.data if d["source"] == "ours"][0]
    assert data["cells"]["text"]["seeds"] == [0, 1, 2] and data["tasks5"] == 5 and data["tasks6"] == 6
    # The paper's row sits under ours, with its published numbers.
    paper = _row(table, "  LRA paper: Transformer")
    assert paper["Text"] == "64.27" and paper["Path-X"] == "FAIL" and paper["Avg (5 tasks)"] == "54.39"
    assert not warnings
    notes = "\n".join(table.notes)
    assert "preset: code" in notes and "seeds: 0, 1, 2" in notes and "generated" in notes
    assert "git abcdef1234" in notes and "torch 9.9" in notes


def test_pathx_above_chance_counts_its_accuracy_and_partial_scores_say_so():
    runs = full_model("jax/performer", ACCS, pathx=[0.80, 0.82, 0.81])
    runs += [run("jax/linformer", "text", 0, 0.55), run("jax/linformer", "image", 0, 0.40)]
    (table,) = lra_tables(runs)
    perf = _row(table, "jax/performer")
    assert perf["Path-X"] == "81.00 ± 1.00 (3)"
    means = [statistics.fmean(100 * a for a in ACCS[t]) for t in TASKS5]
    assert perf["Avg (6, Path-X FAIL=50)"] == f"{statistics.fmean(means + [81.0]):.2f}"
    lin = _row(table, "jax/linformer")
    assert lin["Text"] == "55.00 (1)"  # one seed: no std
    assert lin["Avg (5 tasks)"] == "47.50 [2 of 5 tasks]" and lin["Avg (6, Path-X FAIL=50)"] == "—"


def test_different_spec_hashes_and_presets_are_never_averaged():
    runs = [run("torch/transformer", "text", s, a, spec="hash-aaaa") for s, a in [(0, 0.60), (1, 0.62)]]
    runs += [run("torch/transformer", "text", 2, 0.90, spec="hash-bbbb")]
    runs += [run("torch/transformer", "text", 0, 0.10, preset="smoke")]
    warnings: list[str] = []
    tables = lra_tables(runs, warnings=warnings)
    assert [t.title.split("preset ")[-1] for t in tables] == ["code", "smoke"]
    code = tables[0]
    assert _row(code, "torch/transformer")["Text"] == "61.00 ± 1.41 (2)"
    assert _row(code, "torch/transformer [spec hash-bbb]")["Text"] == "90.00 (1)"
    assert _row(tables[1], "torch/transformer")["Text"] == "10.00 (1)"
    assert any("different spec hashes are kept apart" in w for w in warnings)


def test_duplicate_seed_keeps_newest_and_unfinished_runs_are_excluded():
    runs = [
        run("torch/transformer", "text", 0, 0.50, updated="2026-01-01T00:00:00"),
        run("torch/transformer", "text", 0, 0.70, updated="2026-02-01T00:00:00"),
        run("torch/transformer", "text", 1, 0.0, status="failed"),
    ]
    warnings: list[str] = []
    (table,) = lra_tables(runs, warnings=warnings)
    assert _row(table, "torch/transformer")["Text"] == "70.00 (1)"
    assert any("seed 0 appears twice" in w for w in warnings)
    assert any("1 failed" in w for w in warnings)


def test_lra_table_function_renders_formats():
    runs = full_model("torch/transformer", ACCS)
    md = lra_table(runs)
    assert "| torch/transformer |" in md and "LRA paper: Transformer" in md
    data = json.loads(lra_table(runs, "json"))
    cell = data["tables"][0]["data"][0]["cells"]["listops"]
    assert cell["values"] == pytest.approx([36.0, 37.0, 38.0])
    csv_text = lra_table(runs, "csv")
    assert csv_text.splitlines()[1].startswith("Model,ListOps,Text")


def test_efficiency_table_numbers_and_ratios():
    recs = [
        profile("torch/transformer", 1024, 0.125, 2_000_000_000),
        profile("torch/transformer", 2048, 0.5, 6_000_000_000),
        profile("torch/performer", 1024, 0.1, 500_000_000),
        profile("torch/performer", 2048, 0.125, 1_000_000_000),
        profile("jax/transformer", 1024, 0.25, 1_000_000_000),
        profile("jax/transformer", 2048, 0.0, None, status="oom"),
    ]
    table, details = efficiency_tables(recs)
    assert table.columns == ["Model", "steps/s 1K", "steps/s 2K", "peak GB 1K", "peak GB 2K"]
    tt = _row(table, "torch/transformer")
    assert tt["steps/s 1K"] == "8.00" and tt["peak GB 2K"] == "6"
    perf = _row(table, "torch/performer")
    assert perf["steps/s 1K"] == "10.00 (1.25x)" and perf["steps/s 2K"] == "8.00 (4.00x)"
    assert perf["peak GB 1K"] == "0.5 (0.25x)" and perf["peak GB 2K"] == "1 (0.17x)"
    jt = _row(table, "jax/transformer")
    assert jt["steps/s 1K"] == "4.00" and jt["steps/s 2K"] == "OOM"  # ratios per framework: none to torch
    assert any("batch 32" in n for n in table.notes) and any("NVIDIA H200" in n for n in table.notes)
    assert any(r[0] == "jax/transformer" and r[2] == "OOM" for r in details.rows)


def test_efficiency_settings_kept_apart():
    recs = [profile("torch/transformer", 1024, 0.125, 10**9, setting="set-1"),
            profile("torch/transformer", 1024, 0.25, 10**9, setting="set-2"),
            profile("torch/transformer", 1024, 0.25, 10**9, batch=8)]
    warnings: list[str] = []
    tables = efficiency_tables(recs, warnings=warnings)
    assert len(tables) == 4  # two groups (batch 32, batch 8), each a table + details
    labels = [r[0] for r in tables[0].rows] + [r[0] for r in tables[2].rows]
    assert "torch/transformer [setting set-1]" in labels and "torch/transformer [setting set-2]" in labels
    assert any("different settings" in w for w in warnings)


def test_cross_framework_table():
    runs = full_model("torch/transformer", {"text": [0.60, 0.62]}) + full_model("jax/transformer", {"text": [0.63, 0.63]})
    recs = [profile("torch/transformer", 1024, 0.125, 2 * 10**9), profile("jax/transformer", 1024, 0.1, 10**9)]
    (table,) = cross_framework_tables(runs, recs)
    assert table.columns == ["Model", "Measure", "jax", "torch", "torch/jax"]
    rows = {r[1]: r for r in table.rows}
    assert rows["Text acc %"][2:4] == ["63.00 ± 0.00 (2)", "61.00 ± 1.41 (2)"]
    assert rows["steps/s @1024"][2:] == ["10.00", "8.00", "0.80x"]
    assert rows["peak MB @1024"][2:] == ["1000.0", "2000.0", "2.00x"]


def test_load_records_from_folders_and_cli(tmp_path, capsys):
    runs = full_model("torch/transformer", ACCS)
    for i, r in enumerate(runs):
        write_json_atomic(tmp_path / "runs" / f"r{i}" / "result.json", r.model_dump(mode="json"))
    write_json_atomic(tmp_path / "runs" / "config.json", {"not": "a record"})  # ignored inside a folder
    write_json_atomic(tmp_path / "prof.json", profile("torch/transformer", 1024, 0.125, 10**9).model_dump(mode="json"))
    loaded = load_records([tmp_path / "runs", tmp_path / "prof.json"])
    assert len(loaded.runs) == len(runs) and len(loaded.profiles) == 1
    tables, _ = build_report(loaded)
    assert [t.title.split(" —")[0] for t in tables] == ["LRA accuracy (test %, mean ± std (seeds))", "Efficiency: steps/s and peak memory (GB)", "Profile details"]
    assert "| torch/transformer |" in render(tables)
    assert lra_main(["report", str(tmp_path / "runs"), str(tmp_path / "prof.json"), "--format", "csv", "--no-registry"]) == 0
    out = capsys.readouterr().out
    assert "torch/transformer,37.00 ± 1.00 (3)" in out
    with pytest.raises(UserError, match="not a result or profile record"):
        load_records([tmp_path / "runs" / "config.json"])
    assert lra_main(["report", str(tmp_path / "missing")]) == 2
    assert "no such file or folder" in capsys.readouterr().err
