"""``lra data prepare|info|export|show``: build, inspect, export and look at task data."""

from __future__ import annotations

import argparse
import json
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UserError
from ..resolve import parse_set
from .common import ArgumentParser, registry


def _request_args(p: argparse.ArgumentParser) -> None:
    p.add_argument("task", help="task id (see `lra list tasks`)")
    p.add_argument("--preset", default="code", help="preset whose split sizes and max_length apply (default: code)")
    p.add_argument("--source", default=None, help="data source (default: the spec's default_source)")
    p.add_argument("--path", default=None, help="folder with the source's files (default: <data dir>/raw/<task>)")
    p.add_argument("--seed", type=int, default=0, help="generator / subset / holdout seed (default: 0)")
    p.add_argument("--option", action="append", default=[], metavar="KEY=VALUE",
                   help="source option, e.g. --option holdout=0.1 (text); repeatable")


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="data_command", metavar="ACTION", parser_class=ArgumentParser)
    p = sub.add_parser("prepare", help="build (or read) a task's data and cache it")
    _request_args(p)
    p.add_argument("--force", action="store_true", help="rebuild even when cached")
    p = sub.add_parser("info", help="split sizes, length percentiles, label balance")
    _request_args(p)
    p.add_argument("--json", action="store_true", help="machine-readable output")
    p = sub.add_parser("export", help="write a generated task's data in the official release layout")
    _request_args(p)
    p.add_argument("directory", help="output folder")
    p = sub.add_parser("show", help="print one example (image tasks: --out FILE.png)")
    _request_args(p)
    p.add_argument("--split", default="train", choices=["train", "validation", "test"])
    p.add_argument("--index", type=int, default=0)
    p.add_argument("--out", default=None, help="write the rendering here (a PNG for image tasks)")
    for action in sub.choices.values():
        # The same flags as every command, also accepted after the action; kept apart from the parent
        # parser's values (argparse would let a subparser's defaults overwrite them) and merged in main.
        action.add_argument("-p", dest="plugin_modules_after", action="append", default=[], metavar="MODULE",
                            help="also load this (uninstalled) plugin module; repeatable")
        action.add_argument("--debug", dest="debug_after", action="store_true", help="show tracebacks")


def _load(args: argparse.Namespace, *, rebuild: bool = False) -> tuple[Any, Any, Any]:
    from ..data import load_dataset, make_request

    task = registry(args).task(args.task)
    request = make_request(task, args.preset, source=args.source, path=args.path, seed=args.seed,
                           options=parse_set(args.option, "--option"))
    return task, request, load_dataset(task, request, rebuild=rebuild)


def _prepare(args: argparse.Namespace) -> int:
    from ..data import cache_path

    # A given --path means "read these files": rebuild, as the cache key does not include the path.
    task, request, dsd = _load(args, rebuild=args.force or args.path is not None)
    sizes = ", ".join(f"{s} {len(dsd[s]):,}" for s in ("train", "validation", "test"))
    print(f"{task.id} ({request.source}, preset {request.task.preset}): {sizes}")
    print(f"cached at {cache_path(request)}")
    return 0


def _info(args: argparse.Namespace) -> int:
    from ..data import cache_path
    from ..data.stats import split_stats

    task, request, dsd = _load(args)
    pair = task.spec.input == "pair"
    stats = {s: split_stats(dsd[s], pair, request.task.max_length) for s in ("train", "validation", "test")}
    if args.json:
        print(json.dumps({"task": task.id, "preset": request.task.preset, "source": request.source,
                          "max_length": request.task.max_length, "cache": str(cache_path(request)),
                          "splits": stats}, indent=2))
        return 0
    print(f"task {task.id}: preset {request.task.preset}, source {request.source}, max_length "
          f"{request.task.max_length}, cache {cache_path(request)}")
    if task.spec.validation_note:
        print(f"validation: {task.spec.validation_note}")
    cols = ["inputs1", "inputs2"] if pair else ["inputs"]
    header = ["split", "examples", *(["column"] if pair else []), "len p0/p10/p50/p90/p99/max", "mean len",
              "truncated", "mean token", "labels (count)"]
    rows = []
    for s, st in stats.items():
        for c in cols:
            e = st[c]
            pct = "/".join(str(v) for v in e["percentiles"].values())
            total = sum(st["labels"].values()) or 1
            labels = " ".join(f"{k}:{v} ({100 * v / total:.1f}%)" for k, v in st["labels"].items())
            mean_tok = f"{e['mean_token']:.2f}" if "mean_token" in e else "-"
            rows.append([s, f"{st['examples']:,}", *([c] if pair else []), pct, f"{e['mean']:.1f}",
                         str(e.get("truncated", "-")), mean_tok, labels])
    widths = [max(len(str(r[i])) for r in [header, *rows]) for i in range(len(header))]
    print("  ".join(h.ljust(w) for h, w in zip(header, widths)).rstrip())
    for r in rows:
        print("  ".join(str(v).ljust(w) for v, w in zip(r, widths)).rstrip())
    return 0


def _export(args: argparse.Namespace) -> int:
    task = registry(args).task(args.task)
    if task.exporter is None:
        raise UserError(f"task {task.id!r} has no exporter; `lra data export` writes generated tasks (e.g. listops)")
    _, request, dsd = _load(args)
    out = Path(args.directory).expanduser()
    task.exporter(dsd, out)
    for f in sorted(p for p in out.iterdir() if p.is_file()):
        print(f"wrote {f} ({f.stat().st_size:,} bytes)")
    return 0


def _show(args: argparse.Namespace) -> int:
    task, request, dsd = _load(args)
    split = dsd[args.split]
    if not 0 <= args.index < len(split):
        raise UserError(f"--index {args.index}: split {args.split!r} has {len(split)} examples (0-{len(split) - 1})")
    example = split[args.index]
    out = Path(args.out).expanduser() if args.out else None
    if task.render is not None:
        shown = task.render(example, out)
        print(f"wrote {shown}" if out is not None and str(out) == str(shown) else shown, end="" if str(shown).endswith("\n") else "\n")
        return 0
    cols = ["inputs1", "inputs2"] if task.spec.input == "pair" else ["inputs"]
    text = f"label: {example['label']}\n" + "\n".join(f"{c}: {np.asarray(example[c]).tolist()}" for c in cols) + "\n"
    if out is not None:
        from ..io import write_text_atomic

        write_text_atomic(out, text)
        print(f"wrote {out}")
    else:
        print(text, end="")
    return 0


def main(args: argparse.Namespace) -> int:
    actions = {"prepare": _prepare, "info": _info, "export": _export, "show": _show}
    if not getattr(args, "data_command", None):
        raise UserError("lra data: choose an action: prepare, info, export or show (see `lra data --help`)")
    args.plugin_modules = [*(getattr(args, "plugin_modules", None) or []), *args.plugin_modules_after]
    return actions[args.data_command](args)
