"""The accuracy-speed-memory plot of the LRA paper's Figure 3, as a PNG (matplotlib, optional extra).

x: steps/s at one length; y: LRA score (5 tasks); bubble area: peak memory; one labelled bubble per
model that has both an LRA score and an ok profile at that length.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Sequence

from ..errors import UserError
from ..profiling.record import ProfileRecord
from ..results import RunResult
from .lra import model_scores


def _matplotlib():
    try:
        import matplotlib

        matplotlib.use("Agg")  # files only; never a window
        import matplotlib.pyplot as plt
    except ImportError:
        raise UserError("--plot: matplotlib is not installed; pip install 'lra-arena[plot]'") from None
    return plt


def tradeoff_points(
    runs: Sequence[RunResult],
    profiles: Sequence[ProfileRecord],
    *,
    length: int | None = None,
    preset: str | None = None,
) -> tuple[list[dict], int, str]:
    """The bubbles: model, steps/s, score (and its task count), peak bytes; plus length and preset."""
    scores = {k: v for k, v in model_scores(runs).items() if v["score5"] is not None}
    if not scores:
        raise UserError("--plot: no completed run with a test score among the records; the plot needs LRA scores")
    if preset is None:
        preset = Counter(p for (p, _m) in scores).most_common(1)[0][0]
    scored = {mid: s for (p, mid), s in scores.items() if p == preset}
    ok = [r for r in profiles if r.ok and r.model.id in scored]
    if not ok:
        raise UserError(f"--plot: no ok profile record for a model with an LRA score at preset {preset}; run lra-profile")
    if length is None:
        per_len = Counter(r.task.length for r in ok)
        length = max(per_len, key=lambda n: (per_len[n], n))
    points = []
    for mid, s in sorted(scored.items()):
        recs = sorted((r for r in ok if r.model.id == mid and r.task.length == length), key=lambda r: r.created)
        if not recs:
            continue
        r = recs[-1]
        points.append(
            {"model": mid, "steps_per_second": r.timings.steps_per_second, "score": s["score5"], "tasks": s["tasks5"],
             "peak_bytes": r.memory.peak_bytes}
        )
    if not points:
        raise UserError(f"--plot: no model has both an LRA score and an ok profile at length {length}")
    return points, length, preset


def tradeoff_plot(
    runs: Sequence[RunResult],
    profiles: Sequence[ProfileRecord],
    path: str | Path,
    *,
    length: int | None = None,
    preset: str | None = None,
) -> Path:
    """Write the Figure 3 style PNG to ``path`` and return it."""
    points, length, preset = tradeoff_points(runs, profiles, length=length, preset=preset)
    plt = _matplotlib()
    peaks = [p["peak_bytes"] or 0 for p in points]
    biggest = max(peaks) or 1
    fig, ax = plt.subplots(figsize=(7, 5), dpi=120)
    for p, peak in zip(points, peaks):
        area = 200 + 3000 * peak / biggest
        ax.scatter(p["steps_per_second"], p["score"], s=area, alpha=0.45, edgecolors="black")
        label = p["model"] + ("" if p["tasks"] == 5 else f" ({p['tasks']} tasks)")
        ax.annotate(label, (p["steps_per_second"], p["score"]), ha="center", va="center", fontsize=8)
    ax.set_xlabel(f"steps/s at length {length}")
    ax.set_ylabel("LRA score (5 tasks, %)")
    ax.set_title(f"Accuracy vs speed vs memory (bubble area: peak memory) — preset {preset}")
    ax.grid(alpha=0.3)
    ax.margins(0.2)
    fig.tight_layout()
    out = Path(path)
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = out.with_name(f".{out.name}.tmp")
    fig.savefig(tmp, format="png")
    plt.close(fig)
    tmp.replace(out)  # atomic: a reader never sees half a PNG
    return out
