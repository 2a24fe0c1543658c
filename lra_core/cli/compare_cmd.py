"""``lra compare A B --task T``: cross-framework parity (eval outputs, loss curves) plus speed/memory.

Exit status: 0 when both parity checks pass, 1 when one fails, 2 for bad input.
"""

from __future__ import annotations

import argparse
from typing import Any, Callable, Iterable

from ..compare import run_compare
from ..io import write_json_atomic
from ..resolve import parse_set
from ..specs import PRESETS
from .common import registry


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("model_a", metavar="MODEL_A", help="reference model, e.g. torch/transformer (its parameters are exported)")
    p.add_argument("model_b", metavar="MODEL_B", help="model to check, e.g. jax/transformer (imports A's parameters)")
    p.add_argument("--task", required=True, metavar="TASK", help="task id whose data and settings are used, e.g. listops")
    p.add_argument("--preset", choices=PRESETS, default="code", help="code (default), paper or smoke")
    p.add_argument("--set", dest="sets", action="append", metavar="KEY=VALUE",
                   help="override a spec/config field for both models; repeatable (dropout is always 0)")
    p.add_argument("--steps", type=int, default=50, help="training steps of the loss-curve check (default 50)")
    p.add_argument("--batch-size", dest="batch_size", type=int, default=None,
                   help="batch size (default: the preset's training.batch_size)")
    p.add_argument("--seed", type=int, default=0, help="initialisation and data-order seed (default 0)")
    p.add_argument("--device", default="auto", help="auto (default), cpu, cuda or cuda:N, for both frameworks")
    p.add_argument("--rtol", type=float, default=1e-5, help="eval outputs: max |a-b| / max |a| (default 1e-5)")
    p.add_argument("--loss-tol", dest="loss_tol", type=float, default=1e-3,
                   help="training: largest per-step loss difference (default 1e-3)")
    p.add_argument("--source", help="data source of the task (default: the spec's default_source)")
    p.add_argument("--data-path", dest="data_path", metavar="PATH", help="local data for sources that read files")
    p.add_argument("--json", dest="json_path", metavar="PATH", help="also write the report as JSON")
    p.add_argument("--no-progress", dest="progress", action="store_false", help="no progress bars")


def _progress(enabled: bool) -> Callable[[str], Callable[[Iterable[Any]], Iterable[Any]]] | None:
    if not enabled:
        return None
    from tqdm import tqdm

    def factory(label: str) -> Callable[[Iterable[Any]], Iterable[Any]]:
        return lambda it: tqdm(it, desc=f"train {label}", unit="step", leave=False, dynamic_ncols=True)

    return factory


def main(args: argparse.Namespace) -> int:
    report = run_compare(
        registry(args),
        args.model_a,
        args.model_b,
        args.task,
        preset=args.preset,
        sets=parse_set(args.sets),
        steps=args.steps,
        batch_size=args.batch_size,
        seed=args.seed,
        device=args.device,
        rtol=args.rtol,
        loss_tol=args.loss_tol,
        source=args.source,
        data_path=args.data_path,
        progress=_progress(args.progress),
    )
    print(report.format())
    if args.json_path:
        write_json_atomic(args.json_path, report.as_dict())
    return 0 if report.passed else 1
