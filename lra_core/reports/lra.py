"""The LRA table (the paper's Table 1 layout) from run records.

Rules:

- a cell is the test accuracy (LRA's protocol: the last checkpoint, ``metrics.test``) of completed
  runs of one model on one task at one preset *and one spec hash*, as mean ± sample std over seeds
  with the number of seeds; runs with different spec hashes or presets are never averaged: the
  variant with the most seeds fills the model's row, the others get rows of their own and a warning;
- the same seed twice in one cell keeps the newest run (warned);
- Path-X whose mean accuracy is within 3 binomial standard errors of chance (1/classes) is FAIL;
- the LRA score is the mean of the per-task means: over the 5 tasks without Path-X, as the paper
  does, and over 6 with a failed Path-X counted as 50, as later papers do; a partial score states
  how many tasks it averages.
"""

from __future__ import annotations

import math
import statistics
from dataclasses import dataclass, field
from typing import Any, Mapping, Sequence

from ..results import RunResult
from .notes import environment_line, join_unique
from .reference import LRA_TASKS, PAPER_AVERAGE_TASKS, TASK_TITLES, paper_row, paper_table1, task_column
from .table import Table

FAIL = "FAIL"
#: A failed Path-X counts as this in the 6-task score.
FAIL_SCORE = 50.0


@dataclass
class Cell:
    """One model x task x preset x spec hash: the seeds' test accuracies in %."""

    model_id: str
    model_name: str
    framework: str
    task_id: str
    column: str
    preset: str
    spec_hash: str
    runs: list[RunResult] = field(default_factory=list)

    @property
    def values(self) -> list[float]:
        return [100.0 * r.metrics.test.accuracy for r in self.runs if r.metrics.test is not None]

    @property
    def seeds(self) -> list[int]:
        return sorted(r.seed for r in self.runs)

    @property
    def n(self) -> int:
        return len(self.runs)

    @property
    def mean(self) -> float:
        return statistics.fmean(self.values)

    @property
    def std(self) -> float | None:
        return statistics.stdev(self.values) if self.n > 1 else None

    @property
    def chance(self) -> float:
        classes = self.runs[0].task.resolved.get("num_classes") or 2
        return 100.0 / int(classes)

    @property
    def failed(self) -> bool:
        """At chance: within 3 binomial standard errors of 1/classes (Path-X's FAIL)."""
        p = self.chance / 100.0
        examples = sum(r.metrics.test.examples for r in self.runs if r.metrics.test is not None)
        margin = 100.0 * 3.0 * math.sqrt(p * (1 - p) / examples) if examples else 1.0
        return self.mean <= self.chance + margin

    @property
    def score_value(self) -> float:
        """What the cell contributes to an LRA score (a failed Path-X counts as 50)."""
        return FAIL_SCORE if self.column == "pathx" and self.failed else self.mean

    def text(self) -> str:
        if self.column == "pathx" and self.failed:
            return f"{FAIL} ({self.mean:.2f}, {self.n})"
        std = f" ± {self.std:.2f}" if self.std is not None else ""
        return f"{self.mean:.2f}{std} ({self.n})"

    def data(self) -> dict[str, Any]:
        return {
            "mean": self.mean,
            "std": self.std,
            "n": self.n,
            "seeds": self.seeds,
            "values": self.values,
            "spec_hash": self.spec_hash,
            "failed": self.column == "pathx" and self.failed,
            "runs": [r.run_id for r in self.runs],
        }


@dataclass
class Row:
    model_id: str
    model_name: str
    framework: str
    preset: str
    cells: dict[str, Cell] = field(default_factory=dict)
    #: Set for a row holding a non-main spec variant (its cells never enter a score).
    variant: str | None = None


def scores(cells: Mapping[str, Cell]) -> dict[str, Any]:
    """The 5-task (paper) and 6-task (Path-X FAIL = 50) LRA scores with the tasks they average."""
    five = [cells[t].mean for t in PAPER_AVERAGE_TASKS if t in cells]
    out: dict[str, Any] = {
        "score5": statistics.fmean(five) if five else None,
        "tasks5": len(five),
        "score6": None,
        "tasks6": 0,
    }
    if "pathx" in cells and len(five) == len(PAPER_AVERAGE_TASKS):
        out["score6"] = statistics.fmean(five + [cells["pathx"].score_value])
        out["tasks6"] = 6
    return out


def _score_text(value: float | None, tasks: int, of: int) -> str:
    if value is None:
        return "—"
    return f"{value:.2f}" if tasks == of else f"{value:.2f} [{tasks} of {of} tasks]"


def collect_cells(runs: Sequence[RunResult], warnings: list[str], sources: Mapping[int, str] | None = None) -> list[Cell]:
    """Completed runs with a test score, grouped into cells; exclusions and duplicates warned."""
    sources = sources or {}
    cells: dict[tuple[str, str, str, str], Cell] = {}
    excluded: dict[str, int] = {}
    for run in runs:
        if run.status != "completed" or run.metrics.test is None:
            why = run.status if run.status != "completed" else "no test metrics"
            excluded[why] = excluded.get(why, 0) + 1
            continue
        key = (run.model.id, run.task.id, run.task.preset, run.task.spec_hash)
        if key not in cells:
            cells[key] = Cell(
                model_id=run.model.id,
                model_name=run.model.name,
                framework=run.model.framework,
                task_id=run.task.id,
                column=task_column(run.task.id) or run.task.id,
                preset=run.task.preset,
                spec_hash=run.task.spec_hash,
            )
        cell = cells[key]
        same = [r for r in cell.runs if r.seed == run.seed]
        if same:
            old = same[0]
            keep, drop = (run, old) if run.updated >= old.updated else (old, run)
            warnings.append(
                f"{run.model.id} on {run.task.id} ({run.task.preset}, spec {run.task.spec_hash[:8]}): seed {run.seed} "
                f"appears twice; kept run {keep.run_id}, ignored {drop.run_id} ({sources.get(id(drop), '?')})"
            )
            cell.runs = [r for r in cell.runs if r is not old] + [keep]
        else:
            cell.runs.append(run)
    if excluded:
        what = ", ".join(f"{n} {why}" for why, n in sorted(excluded.items()))
        warnings.append(f"runs left out of the accuracy tables (not completed or no test score): {what}")
    return list(cells.values())


def build_rows(cells: Sequence[Cell], warnings: list[str]) -> list[Row]:
    """One row per (preset, model); extra spec variants of a cell get their own rows."""
    by_key: dict[tuple[str, str, str], list[Cell]] = {}
    for c in cells:
        by_key.setdefault((c.preset, c.model_id, c.column), []).append(c)
    rows: dict[tuple[str, str], Row] = {}
    extra: list[Row] = []
    for (preset, model_id, column), variants in sorted(by_key.items()):
        # Most seeds first; among equals the newest.
        variants = sorted(variants, key=lambda c: (c.n, max(r.updated for r in c.runs)), reverse=True)
        main = variants[0]
        row = rows.setdefault((preset, model_id), Row(model_id, main.model_name, main.framework, preset))
        row.cells[column] = main
        if len(variants) > 1:
            others = ", ".join(f"{c.spec_hash[:8]} ({c.n} seeds)" for c in variants[1:])
            warnings.append(
                f"{model_id} on {main.task_id} at preset {preset}: runs with different spec hashes are kept apart "
                f"(row uses {main.spec_hash[:8]} with {main.n} seeds; separate rows for {others})"
            )
            for c in variants[1:]:
                extra.append(Row(model_id, c.model_name, c.framework, preset, {column: c}, variant=c.spec_hash))
    ordered = sorted(rows.values(), key=lambda r: (r.preset, r.model_name, r.framework))
    return ordered + sorted(extra, key=lambda r: (r.preset, r.model_name, r.framework, r.variant or ""))


def lra_tables(
    runs: Sequence[RunResult],
    *,
    reference: Mapping[str, Mapping[str, float | None]] | None = None,
    warnings: list[str] | None = None,
    sources: Mapping[int, str] | None = None,
) -> list[Table]:
    """One Table 1 per preset, our rows with the paper's row for the same model under them."""
    warnings = warnings if warnings is not None else []
    reference = reference if reference is not None else paper_table1()
    cells = collect_cells(runs, warnings, sources)
    rows = build_rows(cells, warnings)
    tables = []
    for preset in sorted({r.preset for r in rows}):
        prow = [r for r in rows if r.preset == preset]
        extra_cols = sorted({c for r in prow for c in r.cells if c not in LRA_TASKS})
        columns = list(LRA_TASKS) + extra_cols
        table = Table(
            title=f"LRA accuracy (test %, mean ± std (seeds)) — preset {preset}",
            columns=["Model"] + [TASK_TITLES.get(c, c) for c in columns] + ["Avg (5 tasks)", "Avg (6, Path-X FAIL=50)"],
        )
        shown_paper: set[str] = set()
        for i, row in enumerate(prow):
            label = row.model_id if row.variant is None else f"{row.model_id} [spec {row.variant[:8]}]"
            sc = scores(row.cells) if row.variant is None else {"score5": None, "tasks5": 0, "score6": None, "tasks6": 0}
            table.rows.append(
                [label]
                + [row.cells[c].text() if c in row.cells else "—" for c in columns]
                + [_score_text(sc["score5"], sc["tasks5"], 5), _score_text(sc["score6"], sc["tasks6"], 6)]
            )
            table.data.append(
                {"model": row.model_id, "preset": preset, "variant": row.variant, "source": "ours",
                 "cells": {c: row.cells[c].data() for c in row.cells}, **sc}
            )
            # The paper's row under the last of our rows with that model name.
            nxt = prow[i + 1] if i + 1 < len(prow) else None
            found = paper_row(row.model_name, reference)
            if found and row.variant is None and (nxt is None or nxt.model_name != row.model_name) and found[0] not in shown_paper:
                shown_paper.add(found[0])
                plabel, pvalues = found
                five = [pvalues[t] for t in PAPER_AVERAGE_TASKS if pvalues.get(t) is not None]
                p5 = statistics.fmean(five) if len(five) == 5 else None
                px = pvalues.get("pathx")
                p6 = statistics.fmean(five + [FAIL_SCORE if px is None else px]) if p5 is not None and "pathx" in pvalues else None
                table.rows.append(
                    [f"  LRA paper: {plabel}"]
                    + [("FAIL" if pvalues.get(c, 0) is None else f"{pvalues[c]:.2f}") if c in pvalues else "" for c in columns]
                    + [_score_text(p5, 5, 5), _score_text(p6, 6, 6)]
                )
                table.data.append({"model": plabel, "source": "paper", "cells": dict(pvalues), "score5": p5, "score6": p6})
        pruns = [r for c in cells if c.preset == preset for r in c.runs]
        sources_by_task: dict[str, set[str]] = {}
        hashes: dict[str, set[str]] = {}
        for r in pruns:
            src = r.task.source + (f" ({r.task.data_path})" if r.task.data_path else "")
            sources_by_task.setdefault(r.task.id, set()).add(src)
            hashes.setdefault(r.task.id, set()).add(r.task.spec_hash[:8])
        table.notes = [
            f"preset: {preset}; test accuracy of the last checkpoint (LRA's protocol); cells are mean ± sample std over seeds, (n) seeds",
            "data sources: " + "; ".join(f"{t}: {', '.join(sorted(s))}" for t, s in sorted(sources_by_task.items())),
            f"seeds: {join_unique(sorted({r.seed for r in pruns}))}",
            "spec hashes: " + "; ".join(f"{t}: {', '.join(sorted(h))}" for t, h in sorted(hashes.items())),
            "Avg (5 tasks) excludes Path-X as the paper does; Avg (6) counts a failed Path-X as 50; "
            "[k of n tasks] marks a partial average",
            "Path-X FAIL: mean accuracy within 3 binomial standard errors of chance; paper averages recomputed from its per-task numbers",
            environment_line([r.environment for r in pruns], [r.backend for r in pruns]),
        ]
        tables.append(table)
    return tables


def model_scores(runs: Sequence[RunResult], preset: str | None = None) -> dict[tuple[str, str], dict[str, Any]]:
    """(preset, model id) -> LRA scores of its main row (for the plot and the cross-framework table)."""
    rows = build_rows(collect_cells(runs, []), [])
    return {
        (r.preset, r.model_id): {**scores(r.cells), "cells": r.cells}
        for r in rows
        if r.variant is None and (preset is None or r.preset == preset)
    }
