"""The Figure 3 bubble plot: written as a non-empty PNG; clean errors when it cannot be drawn."""

from __future__ import annotations

import pytest

from lra_core.cli.main import main as lra_main
from lra_core.errors import UserError
from lra_core.io import write_json_atomic
from lra_core.reports.plot import tradeoff_points
from report_records import profile, run

pytest.importorskip("matplotlib")

from lra_core.reports import tradeoff_plot  # noqa: E402

TASKS = ["listops", "text", "retrieval", "image", "pathfinder"]


def _records():
    runs = [run("torch/transformer", t, 0, 0.6) for t in TASKS] + [run("torch/performer", t, 0, 0.5) for t in TASKS]
    runs.append(run("torch/linformer", "text", 0, 0.55))  # score but no profile: not plotted
    profs = [
        profile("torch/transformer", 1024, 0.125, 2 * 10**9),
        profile("torch/transformer", 4096, 0.5, 9 * 10**9),
        profile("torch/performer", 1024, 0.1, 5 * 10**8),
        profile("torch/performer", 4096, 0.125, 10**9),
    ]
    return runs, profs


def test_points_match_records():
    runs, profs = _records()
    points, length, preset = tradeoff_points(runs, profs, length=4096)
    assert length == 4096 and preset == "code"
    by = {p["model"]: p for p in points}
    assert set(by) == {"torch/transformer", "torch/performer"}
    assert by["torch/performer"]["steps_per_second"] == 8.0 and by["torch/performer"]["score"] == pytest.approx(50.0)
    assert by["torch/transformer"]["peak_bytes"] == 9 * 10**9


def test_png_written_and_non_empty(tmp_path):
    runs, profs = _records()
    out = tradeoff_plot(runs, profs, tmp_path / "fig" / "tradeoff.png")
    data = out.read_bytes()
    assert len(data) > 1000 and data[:8] == b"\x89PNG\r\n\x1a\n"


def test_plot_needs_scores_and_profiles(tmp_path):
    runs, profs = _records()
    with pytest.raises(UserError, match="no completed run"):
        tradeoff_plot([], profs, tmp_path / "x.png")
    with pytest.raises(UserError, match="no ok profile"):
        tradeoff_plot(runs, [], tmp_path / "x.png")


def test_cli_plot(tmp_path, capsys):
    runs, profs = _records()
    for i, r in enumerate(runs):
        write_json_atomic(tmp_path / "r" / f"{i}.json", r.model_dump(mode="json"))
    for i, p in enumerate(profs):
        write_json_atomic(tmp_path / "p" / f"{i}.json", p.model_dump(mode="json"))
    png = tmp_path / "plot.png"
    assert lra_main(["report", str(tmp_path / "r"), str(tmp_path / "p"), "--plot", str(png), "--no-registry"]) == 0
    assert png.stat().st_size > 1000
    assert lra_main(["report", str(tmp_path / "r"), "--plot", str(tmp_path / "plot.svg"), "--no-registry"]) == 2
    assert ".png" in capsys.readouterr().err
