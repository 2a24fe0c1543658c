"""A report table (title, header, rows, notes) and its renderings: Markdown, CSV and JSON."""

from __future__ import annotations

import csv
import io
import json
from dataclasses import dataclass, field
from typing import Any, Literal, Sequence

Format = Literal["md", "csv", "json"]
FORMATS: tuple[str, ...] = ("md", "csv", "json")


@dataclass
class Table:
    title: str
    columns: list[str]
    rows: list[list[str]] = field(default_factory=list)
    #: Lines printed under the table: preset, data sources, seeds, environment, footnotes.
    notes: list[str] = field(default_factory=list)
    #: The numbers behind the cells (for JSON consumers), one dict per row.
    data: list[dict[str, Any]] = field(default_factory=list)

    def to_markdown(self) -> str:
        def esc(s: str) -> str:
            return str(s).replace("|", "\\|")

        out = [f"### {self.title}", ""]
        out.append("| " + " | ".join(esc(c) for c in self.columns) + " |")
        out.append("|" + "|".join("---" for _ in self.columns) + "|")
        for row in self.rows:
            out.append("| " + " | ".join(esc(c) for c in row) + " |")
        if self.notes:
            out.append("")
            out.extend(f"- {n}" for n in self.notes)
        return "\n".join(out)

    def to_csv(self) -> str:
        buf = io.StringIO()
        buf.write(f"# {self.title}\n")
        writer = csv.writer(buf, lineterminator="\n")
        writer.writerow(self.columns)
        writer.writerows(self.rows)
        for n in self.notes:
            buf.write(f"# {n}\n")
        return buf.getvalue().rstrip("\n")

    def to_dict(self) -> dict[str, Any]:
        return {"title": self.title, "columns": self.columns, "rows": self.rows, "notes": self.notes, "data": self.data}


def render(tables: Sequence[Table], fmt: Format = "md", warnings: Sequence[str] = ()) -> str:
    """All tables in one format; warnings first (Markdown/CSV) or under ``warnings`` (JSON)."""
    if fmt == "json":
        return json.dumps({"warnings": list(warnings), "tables": [t.to_dict() for t in tables]}, indent=2, default=str)
    if fmt == "csv":
        parts = [f"# WARNING: {w}" for w in warnings]
        body = "\n\n".join(t.to_csv() for t in tables)
        return "\n".join(parts + [body]) if parts else body
    if fmt == "md":
        parts = [f"> **Warning:** {w}" for w in warnings]
        body = "\n\n".join(t.to_markdown() for t in tables)
        return "\n".join(parts) + ("\n\n" if parts else "") + body
    raise ValueError(f"unknown format {fmt!r}; use one of {FORMATS}")


def fmt_num(value: float | None, digits: int = 2) -> str:
    return "—" if value is None else f"{value:.{digits}f}"
