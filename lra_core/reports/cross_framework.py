"""The same model name under several frameworks, side by side: accuracy, steps/s, memory."""

from __future__ import annotations

from typing import Any, Sequence

from ..profiling.record import ProfileRecord
from ..results import RunResult
from .efficiency import group_key, invocation_devices
from .lra import model_scores
from .notes import environment_line, join_unique
from .reference import TASK_TITLES
from .table import Table


def _fw(model_id: str) -> tuple[str, str]:
    fw, _, name = model_id.partition("/")
    return fw, name


def cross_framework_tables(
    runs: Sequence[RunResult],
    profiles: Sequence[ProfileRecord],
    *,
    warnings: list[str] | None = None,
) -> list[Table]:
    """One table per preset over model names that exist under two or more frameworks."""
    warnings = warnings if warnings is not None else []
    scores = model_scores(runs)
    ids = {mid for (_p, mid) in scores} | {r.model.id for r in profiles if r.model.framework}
    frameworks_of: dict[str, set[str]] = {}
    for mid in ids:
        fw, name = _fw(mid)
        frameworks_of.setdefault(name, set()).add(fw)
    shared = {name: sorted(fws) for name, fws in frameworks_of.items() if len(fws) > 1}
    if not shared:
        return []
    presets = sorted({p for (p, _m) in scores} | {r.task.preset for r in profiles})
    tables = []
    for preset in presets:
        fws = sorted({fw for v in shared.values() for fw in v})
        ratio = len(fws) == 2
        table = Table(
            title=f"Cross-framework comparison — preset {preset}",
            columns=["Model", "Measure"] + fws + ([f"{fws[1]}/{fws[0]}"] if ratio else []),
        )
        used_runs: list[RunResult] = []
        used_profiles: list[ProfileRecord] = []
        for name, names_fws in sorted(shared.items()):
            lines: dict[str, dict[str, tuple[str, float | None]]] = {}
            for fw in names_fws:
                s = scores.get((preset, f"{fw}/{name}"))
                if s is None:
                    continue
                for col, cell in s["cells"].items():
                    lines.setdefault(f"{TASK_TITLES.get(col, col)} acc %", {})[fw] = (cell.text(), cell.mean)
                    used_runs += cell.runs
                if s["score5"] is not None:
                    lines.setdefault("LRA score (5 tasks)", {})[fw] = (
                        f"{s['score5']:.2f}" + ("" if s["tasks5"] == 5 else f" [{s['tasks5']} of 5]"),
                        s["score5"],
                    )
            recs = [r for r in profiles if r.task.preset == preset and r.model.name == name and r.model.framework in names_fws]
            groups = {group_key(r, invocation_devices(profiles)) for r in recs}
            if len(groups) > 1:
                warnings.append(
                    f"cross-framework {name}: profile records at preset {preset} differ in task/batch/precision/device; "
                    "only the newest of each framework and length is shown"
                )
            for r in sorted(recs, key=lambda r: r.created):
                n = r.task.length
                used_profiles.append(r)
                if r.ok:
                    lines.setdefault(f"steps/s @{n}", {})[r.model.framework] = (f"{r.timings.steps_per_second:.2f}", r.timings.steps_per_second)
                    if r.memory.peak_bytes is not None:
                        mb = r.memory.peak_bytes / 1e6
                        lines.setdefault(f"peak MB @{n}", {})[r.model.framework] = (f"{mb:.1f}", mb)
                else:
                    lines.setdefault(f"steps/s @{n}", {})[r.model.framework] = (r.status.upper(), None)
            for measure, vals in lines.items():
                if len(vals) < 2:
                    continue
                row = [name, measure] + [vals[fw][0] if fw in vals else "—" for fw in fws]
                datum: dict[str, Any] = {"model": name, "measure": measure, **{fw: vals[fw][1] for fw in vals}}
                if ratio:
                    a, b = (vals.get(fws[0], ("", None))[1], vals.get(fws[1], ("", None))[1])
                    row.append(f"{b / a:.2f}x" if a and b else "—")
                table.rows.append(row)
                table.data.append(datum)
        if not table.rows:
            continue
        table.notes = [
            f"preset: {preset}; only measures present under at least two frameworks are shown",
            "accuracy: test %, mean ± std (seeds); steps/s and peak memory from profile records (same protocol)",
            "data sources: " + join_unique(f"{r.task.id}: {r.task.source}" for r in used_runs),
            f"seeds: {join_unique(sorted({r.seed for r in used_runs}))}",
            environment_line(
                [r.environment for r in used_runs] + [p.environment for p in used_profiles],
                [r.backend for r in used_runs] + [p.device for p in used_profiles],
            ),
        ]
        tables.append(table)
    return tables
