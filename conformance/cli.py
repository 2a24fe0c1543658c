"""``lra conformance`` / ``lra-conformance``: check that a model keeps the encoder contract.

Exit status: 0 when every required check passes (warnings, skips and declared expected failures do
not fail), 1 when any check fails, 2 on a usage error (unknown model or check id, bad device ...).
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from lra_core.cli.common import registry
from lra_core.errors import UserError
from lra_core.io import write_json_atomic

from .checks import CHECKS
from .report import Report
from .runner import run_checks, select_checks


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "--plugin",
        dest="models",
        action="append",
        default=[],
        metavar="MODEL",
        help="model to check, e.g. torch/transformer (repeatable)",
    )
    p.add_argument(
        "--check",
        dest="checks",
        nargs="+",
        action="extend",
        default=[],
        metavar="ID",
        help="run only these checks (ids as in --list-checks; comma-separated also works)",
    )
    p.add_argument("--fast", action="store_true", help="only the fast checks (what lra-run runs before training)")
    p.add_argument("--json", metavar="PATH", help="also write the report as JSON to PATH ('-' for stdout)")
    p.add_argument("--device", default="cpu", help="device the backend runs on (default: cpu)")
    p.add_argument("--precision", default="fp32", choices=["fp32", "bf16"], help="compute precision (default: fp32)")
    p.add_argument("--list-checks", action="store_true", help="list the checks and exit")
    p.add_argument("--no-progress", action="store_true", help="no progress bar")


def _check_ids(raw: list[str]) -> list[str]:
    return [c.strip() for item in raw for c in item.split(",") if c.strip()]


def list_checks() -> str:
    width = max(len(c) for c in CHECKS)
    lines = [f"{'check':<{width}}  fast  rule"]
    lines += [f"{c.id:<{width}}  {'yes ' if c.fast else 'no  '}  {c.rule}" for c in CHECKS.values()]
    return "\n".join(lines)


def main(args: argparse.Namespace) -> int:
    if args.list_checks:
        print(list_checks())
        return 0
    if not args.models:
        raise UserError("--plugin MODEL is required (e.g. --plugin torch/transformer); see `lra list models`")
    checks = _check_ids(args.checks) or None
    select_checks(checks, fast_only=args.fast)  # unknown ids are a usage error before any build
    reg = registry(args)
    cards = [reg.model(m) for m in args.models]  # unknown models fail before any check runs
    to_stdout = args.json == "-"
    reports: list[Report] = []
    for card in cards:
        report = run_checks(
            card,
            registry=reg,
            checks=checks,
            fast_only=args.fast,
            device=args.device,
            precision=args.precision,
            progress=not args.no_progress and sys.stderr.isatty(),
        )
        reports.append(report)
        # With --json - the JSON owns stdout, so the table goes to stderr.
        print(report.to_table(), file=sys.stderr if to_stdout else sys.stdout)
    if args.json:
        payload: dict[str, Any] = (
            reports[0].to_dict()
            if len(reports) == 1
            else {"ok": all(r.ok for r in reports), "reports": [r.to_dict() for r in reports]}
        )
        if to_stdout:
            import json

            print(json.dumps(payload, indent=2))
        else:
            write_json_atomic(args.json, payload)
    return 0 if all(r.ok for r in reports) else 1
