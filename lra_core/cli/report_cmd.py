"""``lra-report RESULTS... [--format md|csv|json] [--plot PATH]``: tables from records, no re-runs."""

from __future__ import annotations

import argparse
import sys

from ..errors import UserError
from ..reports import build_report, load_records, render, tradeoff_plot
from ..reports.reference import paper_table1
from ..io import write_text_atomic
from .common import registry


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("results", nargs="+", metavar="RESULTS", help="result/profile JSON files, or folders searched recursively")
    p.add_argument("--format", choices=["md", "csv", "json"], default="md")
    p.add_argument("--output", "-o", default=None, metavar="PATH", help="write the report here instead of stdout")
    p.add_argument("--plot", default=None, metavar="PATH", help="also write the accuracy-speed-memory PNG (needs matplotlib)")
    p.add_argument("--plot-length", type=int, default=None, help="length whose steps/s the plot uses (default: the most profiled)")
    p.add_argument("--preset", default=None, help="preset the plot uses (default: the one with most models)")
    p.add_argument("--no-registry", action="store_true",
                   help="do not load plugins for the task specs' reference numbers (use the built-in Table 1 copy)")


def main(args: argparse.Namespace) -> int:
    records = load_records(args.results)
    reference = paper_table1(None if args.no_registry else registry(args))
    tables, warnings = build_report(records, reference=reference)
    text = render(tables, args.format, warnings)
    if args.output:
        write_text_atomic(args.output, text + "\n")
        print(f"wrote {args.output}", file=sys.stderr)
    else:
        print(text)
    if args.plot:
        if not args.plot.lower().endswith(".png"):
            raise UserError(f"--plot {args.plot}: the plot is a PNG; give a path ending in .png")
        path = tradeoff_plot(records.runs, records.profiles, args.plot, length=args.plot_length, preset=args.preset)
        print(f"wrote {path}", file=sys.stderr)
    return 0
