"""Reports from run and profile records: they read records and never re-run anything.

- :func:`lra_table`: the LRA table (Table 1 layout) — what ``lra-run --task all`` prints at the end;
- :func:`efficiency_report`: the efficiency table (Table 2 layout) — what ``lra-profile`` prints;
- :func:`build_report`: everything for ``lra-report`` (LRA, efficiency and cross-framework tables);
- :func:`tradeoff_plot`: the Figure 3 bubble plot (needs the ``plot`` extra).
"""

from __future__ import annotations

from typing import Mapping, Sequence

from ..profiling.record import ProfileRecord
from ..results import RunResult
from .cross_framework import cross_framework_tables
from .efficiency import efficiency_tables, profile_environment
from .lra import lra_tables
from .plot import tradeoff_plot
from .records import Records, load_records
from .table import FORMATS, Table, render


def lra_table(
    records: Sequence[RunResult],
    fmt: str = "md",
    *,
    reference: Mapping[str, Mapping[str, float | None]] | None = None,
) -> str:
    """The LRA table(s), one per preset, with the paper's numbers beside ours, rendered as text."""
    warnings: list[str] = []
    tables = lra_tables(records, reference=reference, warnings=warnings)
    return render(tables, fmt, warnings)  # type: ignore[arg-type]


def efficiency_report(records: Sequence[ProfileRecord], fmt: str = "md") -> str:
    """The efficiency table(s) and profile details, rendered as text."""
    warnings: list[str] = []
    tables = efficiency_tables(records, warnings=warnings)
    return render(tables, fmt, warnings)  # type: ignore[arg-type]


def build_report(
    records: Records,
    *,
    reference: Mapping[str, Mapping[str, float | None]] | None = None,
) -> tuple[list[Table], list[str]]:
    """Every table the records support, and the warnings met on the way."""
    warnings = list(records.warnings)
    tables: list[Table] = []
    if records.runs:
        tables += lra_tables(records.runs, reference=reference, warnings=warnings, sources=records.sources)
    if records.profiles:
        tables += efficiency_tables(records.profiles, warnings=warnings)
    tables += cross_framework_tables(records.runs, records.profiles, warnings=warnings)
    return tables, warnings


__all__ = [
    "FORMATS",
    "Records",
    "Table",
    "build_report",
    "cross_framework_tables",
    "efficiency_report",
    "efficiency_tables",
    "load_records",
    "lra_table",
    "lra_tables",
    "profile_environment",
    "render",
    "tradeoff_plot",
]
