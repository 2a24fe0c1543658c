"""``lra-profile``: LRA Table 2 (steps/s and peak memory per length), one fresh process per cell.

    lra-profile --plugin transformer,performer --lengths 1024,2048,3072,4096 --batch-size 32 \
        --device cuda --json profile.json

The vanilla ``<framework>/transformer`` of every framework profiled is added when not listed, so
the speed and memory ratios come from the same invocation.
"""

from __future__ import annotations

import argparse
import sys
from datetime import datetime, timezone

from pydantic import ValidationError

from ..environment import environment
from ..errors import UserError
from ..profiling.protocol import ProfileProtocol
from ..profiling.record import ProfileSet, write_profile
from ..profiling.runner import new_invocation_id, run_profile
from ..reports import cross_framework_tables, efficiency_report, profile_environment, render
from ..resolve import parse_set, resolve
from ..specs import format_validation_error
from .common import registry

BASELINE = "transformer"


def parse_lengths(text: str) -> list[int]:
    """``"1024,2K,4k"`` -> ``[1024, 2048, 4096]``."""
    out = []
    for item in (s.strip() for s in text.split(",")):
        if not item:
            continue
        try:
            out.append(int(item[:-1]) * 1024 if item[-1] in "kK" else int(item))
        except ValueError:
            raise UserError(f"--lengths: {item!r} is not a length; use e.g. --lengths 1024,2048 or 1K,2K") from None
    if not out:
        raise UserError("--lengths: give at least one length, e.g. --lengths 1024,2048")
    return out


def add_arguments(p: argparse.ArgumentParser) -> None:
    d = ProfileProtocol()
    p.add_argument("--plugin", required=True, metavar="MODELS", help="comma-separated model names (name or framework/name)")
    p.add_argument("--lengths", default=None, help=f"comma-separated sequence lengths (default {','.join(map(str, d.lengths))})")
    p.add_argument("--batch-size", type=int, default=None, help=f"default {d.batch_size}, as the paper")
    p.add_argument("--task", default=None, help=f"task whose shape is profiled (default {d.task})")
    p.add_argument("--preset", default=None, help=f"task preset giving the model dims (default {d.preset}; smoke for a CPU)")
    p.add_argument("--device", default=None, help="backend device, e.g. cpu, cuda, cuda:1, gpu (default auto)")
    p.add_argument("--precision", choices=["fp32", "bf16"], default=None)
    p.add_argument("--compile", action="store_true", help="ask the backend to compile the step (torch.compile)")
    p.add_argument("--warmup", type=int, default=None, help=f"warm-up steps after the first call (default {d.warmup_steps})")
    p.add_argument("--steps", type=int, default=None, help=f"measured steps per repeat (default {d.measured_steps})")
    p.add_argument("--repeats", type=int, default=None, help=f"repeats (default {d.repeats})")
    p.add_argument("--seed", type=int, default=None)
    p.add_argument("--threads", type=int, default=None, help="CPU threads per worker (OMP/MKL); recorded")
    p.add_argument("--set", dest="sets", action="append", default=[], metavar="KEY=VALUE",
                   help="override model.<field> / training.<field>, as lra-run; repeatable")
    p.add_argument("--timeout", type=float, default=None, help=f"seconds per worker (default {d.timeout_s:g})")
    p.add_argument("--no-count-flops", action="store_true", help="skip the framework's FLOP counter")
    p.add_argument("--json", dest="json_path", default=None, metavar="PATH", help="write every record to this JSON file")
    p.add_argument("--format", choices=["md", "csv", "json"], default="md", help="table format printed")
    p.add_argument("--quiet", action="store_true", help="no progress bar")


def protocol_from_args(args: argparse.Namespace) -> ProfileProtocol:
    values = {
        "lengths": parse_lengths(args.lengths) if args.lengths else None,
        "batch_size": args.batch_size,
        "task": args.task,
        "preset": args.preset,
        "device": args.device,
        "precision": args.precision,
        "warmup_steps": args.warmup,
        "measured_steps": args.steps,
        "repeats": args.repeats,
        "seed": args.seed,
        "threads": args.threads,
        "timeout_s": args.timeout,
        "overrides": parse_set(args.sets) or None,
    }
    values = {k: v for k, v in values.items() if v is not None}
    if args.compile:
        values["compile"] = True
    if args.no_count_flops:
        values["count_flops"] = False
    flags = {"lengths": "--lengths", "batch_size": "--batch-size", "warmup_steps": "--warmup",
             "measured_steps": "--steps", "repeats": "--repeats", "timeout_s": "--timeout",
             "threads": "--threads"}
    try:
        return ProfileProtocol.model_validate(values)
    except ValidationError as e:
        loc = str(e.errors()[0]["loc"][0]) if e.errors()[0]["loc"] else ""
        raise UserError(format_validation_error(e, flags.get(loc, "profile protocol"))) from None


def plan(reg, names: list[str], protocol: ProfileProtocol) -> tuple[list[str], dict[tuple[str, int], str], list[str]]:
    """Model ids in order (each framework's transformer first), skipped cells, and notes."""
    cards = []
    for name in names:
        card = reg.model(name)
        if card.id not in [c.id for c in cards]:
            cards.append(card)
    notes = []
    ids: list[str] = []
    for fw in dict.fromkeys(c.framework for c in cards):
        base = f"{fw}/{BASELINE}"
        if base in reg.models:
            if base not in [c.id for c in cards]:
                notes.append(f"added {base} as the ratio baseline of framework {fw}")
            ids.append(base)
        else:
            notes.append(f"framework {fw} has no {base}; its rows have no ratios")
        ids += [c.id for c in cards if c.framework == fw and c.id != base]
    task = reg.task(protocol.task)
    task.spec.preset(protocol.preset)  # a bad --preset fails here, not in every worker
    skipped: dict[tuple[str, int], str] = {}
    for mid in ids:
        card = reg.models[mid]
        # Resolving once here turns a bad --set into one error line before any worker starts.
        resolve(card, task, protocol.preset, {**protocol.overrides, "max_length": protocol.lengths[0]})
        limit = card.capabilities.max_length
        for n in protocol.lengths:
            if limit is not None and n > limit:
                skipped[(mid, n)] = f"{mid} supports lengths up to {limit} (model card capabilities.max_length)"
    return ids, skipped, notes


def main(args: argparse.Namespace) -> int:
    protocol = protocol_from_args(args)
    names = [s.strip() for s in args.plugin.split(",") if s.strip()]
    if not names:
        raise UserError("--plugin: give at least one model, e.g. --plugin transformer,performer")
    reg = registry(args)
    ids, skipped, notes = plan(reg, names, protocol)
    for note in notes:
        print(f"note: {note}", file=sys.stderr)
    invocation = new_invocation_id()
    records = run_profile(
        ids, protocol, modules=list(args.plugin_modules), invocation_id=invocation, skipped=skipped, progress=not args.quiet
    )
    if args.json_path:
        write_profile(
            args.json_path,
            ProfileSet(
                invocation_id=invocation,
                created=datetime.now(timezone.utc).isoformat(timespec="seconds"),
                protocol=protocol,
                environment=environment(),
                records=records,
            ),
        )
    print(efficiency_report(records, args.format))
    cross = cross_framework_tables([], records)  # the same model under several frameworks, side by side
    if cross:
        print()
        print(render(cross, args.format))
    if args.format == "md":
        print("\nEnvironment")
        for line in profile_environment(records):
            print(f"  {line}")
    if args.json_path:
        print(f"\nrecords: {args.json_path} (lra-report {args.json_path})", file=sys.stderr)
    return 0 if any(r.ok for r in records) else 1
