"""The PyTorch zoo on this machine: LRA Table 2 ratios, and ours against public PyPI implementations.

Prints, at each length (default 1K, 2K, 4K):

1. every registered ``torch/<model>``'s train-step time relative to ``torch/transformer`` (the
   paper's Table 2 speed ratios, measured here), with peak memory;
2. each model against the public implementation of the same method on PyPI (the ``bench`` extra:
   performer-pytorch, linformer, linear-attention-transformer, local-attention,
   sinkhorn-transformer, reformer-pytorch, and BigBird / Longformer from Hugging Face transformers),
   same width, depth, heads and block/feature settings; target: ours / theirs <= 1.0 at 4K. Each
   pair runs in ``--rounds`` interleaved rounds (ours first, then theirs first, ...) and reports the
   median per-round ratio with its range, so drift of a shared machine's speed cancels.

Every configuration goes through the core profiling protocol (``lra_core.profiling``): a fresh
process per (model, length), a full train step timed between device syncs, median of the measured
steps. The defaults keep a CPU run to minutes (batch 1, 2 layers of the Text ``code`` width); pass
``--batch-size 32 --layers 4`` on a GPU for the paper's setting. On a shared CPU, ``--threads 1``
gives steadier figures: with 2 threads every small op waits for the slower thread, and a busy core
makes a step several times longer. The timed steps use a small learning rate (``--learning-rate``)
so the model never saturates into subnormal gradients, which would time the divergence instead.

    python benchmarks/zoo_torch.py [--lengths 1024,2048,4096] [--batch-size 1] [--layers 2] [--threads 2]
                                   [--models a,b] [--pairs-only] [--skip-external] [--rounds 3]
"""

from __future__ import annotations

import argparse
import statistics
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))  # makes `benchmarks.external_torch_models` importable as a -p module

from lra_core import get_registry  # noqa: E402
from lra_core.profiling.record import ProfileRecord  # noqa: E402
from lra_core.profiling.runner import new_invocation_id, run_profile  # noqa: E402

from benchmarks.zoo_common import add_protocol_arguments, fmt, ms, protocol, table  # noqa: E402

EXTERNAL_MODULE = "benchmarks.external_torch_models"

#: ours -> (external card, overrides for ours, overrides for theirs): the same method settings on both.
PAIRS: dict[str, tuple[str, dict[str, Any], dict[str, Any]]] = {
    # ReLU kernel on both; ours has no projection (LRA's "generalized"), so theirs gets Dh features.
    "performer": ("ext-performer-pytorch", {"model.kernel": "relu"}, {"model.nb_features": 64}),
    "linformer": ("ext-linformer", {"model.low_rank_features": 16}, {"model.low_rank_features": 16}),
    "linear_transformer": ("ext-linear-attention-transformer", {}, {}),
    "local": ("ext-local-attention", {"model.block_size": 64}, {"model.block_size": 64}),
    "sinkhorn": ("ext-sinkhorn-transformer", {"model.block_size": 64}, {"model.block_size": 64}),
    "reformer": ("ext-reformer-pytorch", {"model.chunk_len": 64, "model.n_buckets": 16}, {"model.block_size": 64}),
    "bigbird": ("ext-hf-bigbird", {"model.block_size": 64}, {"model.block_size": 64}),
    "longformer": ("ext-hf-longformer", {"model.window_size": 512}, {"model.window": 512}),
}


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_protocol_arguments(p)
    p.add_argument("--models", default=None, help="comma-separated subset of our torch models")
    p.add_argument("--skip-external", action="store_true", help="only the Table 2 ratios")
    p.add_argument("--pairs-only", action="store_true", help="only ours against the public implementations")
    p.add_argument("--rounds", type=int, default=3,
                   help="interleaved rounds per pair (ours/theirs, then theirs/ours, ...); ratio = median over rounds")
    args = p.parse_args()

    reg = get_registry((EXTERNAL_MODULE,) if not args.skip_external else ())
    ours = sorted(c.name for c in reg.models.values() if c.framework == "torch" and not c.name.startswith("ext-"))
    if args.models:
        ours = [m for m in ours if m in args.models.split(",")]
    invocation = new_invocation_id()
    modules = () if args.skip_external else (EXTERNAL_MODULE,)

    if not args.pairs_only:
        table2(args, ours, modules, invocation)
    if args.skip_external:
        return 0
    pairs(args, ours, reg, modules, invocation)
    return 0


def noise(rec: ProfileRecord | None) -> float | None:
    """IQR / median of the measured steps, in percent."""
    if rec is None or not rec.ok or rec.timings.stats is None:
        return None
    return rec.timings.stats.relative_iqr * 100


def table2(args: argparse.Namespace, ours: list[str], modules: tuple[str, ...], invocation: str) -> None:
    """1. Table 2 ratios: every model at its defaults, against the transformer, one invocation."""
    base = run_profile(["torch/transformer"] + [f"torch/{m}" for m in ours if m != "transformer"],
                       protocol(args, {}), modules=modules, invocation_id=invocation)
    by = {(r.model.id, r.task.length): r for r in base}
    print(f"\n## torch zoo: train-step time relative to torch/transformer "
          f"(batch {args.batch_size}, {args.layers} layers of Text code width, fp32, {args.threads} threads)\n")
    header = ["model"] + [f"{L} ms" for L in args.lengths] + [f"{L} ratio" for L in args.lengths] + [f"{L} peak MB" for L in args.lengths]
    rows = []
    for m in ["transformer"] + [m for m in ours if m != "transformer"]:
        cells = [f"torch/{m}"]
        times = [ms(by.get((f"torch/{m}", L))) for L in args.lengths]
        refs = [ms(by.get(("torch/transformer", L))) for L in args.lengths]
        cells += [fmt(t) for t in times]
        cells += [fmt(t / r if t and r else None, ".2f") for t, r in zip(times, refs)]
        mems = [by.get((f"torch/{m}", L)) for L in args.lengths]
        cells += [fmt(r.memory.peak_bytes / 2**20 if r and r.ok and r.memory.peak_bytes else None, ".0f") for r in mems]
        rows.append(cells)
    print(table(rows, header))


def pairs(args: argparse.Namespace, ours: list[str], reg: Any, modules: tuple[str, ...], invocation: str) -> None:
    """2. Ours against the public implementation, each pair with the same method settings.

    Each pair is timed in ``--rounds`` rounds, ours first in even rounds and theirs first in odd
    ones, so a machine that speeds up or slows down over the minutes of a run moves both sides
    alike; the ratio is the median of the per-round ratios, the times the medians over rounds.
    """
    print(f"\n## ours against public PyPI implementations (ratio = ours / theirs, median of {args.rounds} "
          "interleaved rounds; target <= 1.0 at the longest length)\n")
    last = args.lengths[-1]
    header = (["model", "public implementation"] + [f"{L} ours ms" for L in args.lengths]
              + [f"{L} theirs ms" for L in args.lengths] + [f"{L} ratio" for L in args.lengths]
              + [f"{last} ratio range", f"{last} IQR% ours/theirs"])
    rows = []
    verdicts = []
    for m, (ext, ours_over, theirs_over) in PAIRS.items():
        if m not in ours:
            continue
        sides = {"ours": ([f"torch/{m}"], ours_over), "theirs": ([f"torch/{ext}"], theirs_over)}
        runs: dict[str, list[list[ProfileRecord]]] = {"ours": [], "theirs": []}
        for r in range(args.rounds):
            for side in ("ours", "theirs") if r % 2 == 0 else ("theirs", "ours"):
                ids, over = sides[side]
                runs[side].append(run_profile(ids, protocol(args, over), modules=modules, invocation_id=invocation))
        a = [[ms(rec) for rec in recs] for recs in runs["ours"]]  # [round][length]
        b = [[ms(rec) for rec in recs] for recs in runs["theirs"]]
        per_round = [[x / y if x and y else None for x, y in zip(ra, rb)] for ra, rb in zip(a, b)]
        ratios = [_median([rr[i] for rr in per_round]) for i in range(len(args.lengths))]
        final_rounds = [rr[-1] for rr in per_round if rr[-1] is not None]
        spread_r = f"{min(final_rounds):.2f}-{max(final_rounds):.2f}" if final_rounds else "-"
        errors = [f"{rec.model.id} L={rec.task.length}: {rec.status}"
                  for recs in (*runs["ours"], *runs["theirs"]) for rec in recs if not rec.ok]
        mine, theirs = runs["ours"][-1], runs["theirs"][-1]
        spread = f"{fmt(noise(mine[-1] if mine else None), '.0f')}/{fmt(noise(theirs[-1] if theirs else None), '.0f')}"
        rows.append([f"torch/{m}", reg.model(f"torch/{ext}").description.split(",")[0]]
                    + [fmt(_median([t[i] for t in a])) for i in range(len(args.lengths))]
                    + [fmt(_median([t[i] for t in b])) for i in range(len(args.lengths))]
                    + [fmt(x, ".2f") for x in ratios] + [spread_r, spread])
        final = ratios[-1]
        verdicts.append(f"{m}: {'OK' if final is not None and final <= 1.0 else 'SLOWER' if final else 'n/a'} at {last}"
                        + (f" ({'; '.join(errors)})" if errors else ""))
    print(table(rows, header))
    print("\n" + "\n".join(verdicts))
    print("\nNo PyPI implementation: sparse_transformer (fixed pattern), synthesizer.")
    print("What differs inside a pair is listed in benchmarks/external_torch_models.py (module docstring).")


def _median(values: list[float | None]) -> float | None:
    """Median of the values that exist; None when a round failed at that length."""
    present = [v for v in values if v is not None]
    return statistics.median(present) if len(present) == len(values) and present else None


if __name__ == "__main__":
    sys.exit(main())
