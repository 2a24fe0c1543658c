"""The JAX zoo on this machine: train-step time relative to jax/transformer, and against each torch twin.

Prints, at each length (default 1K, 2K, 4K):

1. every registered ``jax/<model>``'s train-step time relative to ``jax/transformer`` (the paper's
   Table 2 speed ratios, measured here), with peak memory; the compile time (the first step's
   tracing and XLA compilation) is reported apart and never enters the step time;
2. each ``jax/<model>`` against its ``torch/<model>`` twin (ratio = jax / torch step time), same
   protocol, same resolved config.

Every configuration goes through the core profiling protocol (``lra_core.profiling``), exactly as
``benchmarks/zoo_torch.py``: a fresh process per (model, length), a full train step timed between
device syncs, median of the measured steps. The defaults keep a CPU run to minutes (batch 1, 2 layers
of the Text ``code`` width, 2 threads); pass ``--batch-size 32 --layers 4`` on a GPU for the paper's
setting. Timings on a shared machine are noisy: read the ratios, not the milliseconds.

    python benchmarks/zoo_jax.py [--lengths 1024,2048,4096] [--batch-size 1] [--layers 2] [--threads 2]
                                 [--models local,bigbird] [--skip-torch]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from lra_core import get_registry  # noqa: E402
from lra_core.profiling.record import ProfileRecord  # noqa: E402
from lra_core.profiling.runner import new_invocation_id, run_profile  # noqa: E402

from benchmarks.zoo_common import add_protocol_arguments, fmt, ms, protocol, table  # noqa: E402

REFERENCE = "transformer"


def compile_s(rec: ProfileRecord | None) -> float | None:
    return rec.timings.compile_seconds if rec is not None and rec.ok else None


def peak_mb(rec: ProfileRecord | None) -> float | None:
    return rec.memory.peak_bytes / 2**20 if rec is not None and rec.ok and rec.memory.peak_bytes else None


def ratio(a: float | None, b: float | None) -> float | None:
    return a / b if a and b else None


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    add_protocol_arguments(p)
    p.add_argument("--models", default=None, help="comma-separated subset of the jax models (the transformer always runs)")
    p.add_argument("--skip-torch", action="store_true", help="only the ratios to jax/transformer")
    args = p.parse_args()

    reg = get_registry()
    jax_models = sorted(c.name for c in reg.models.values() if c.framework == "jax")
    if REFERENCE not in jax_models:
        print("jax/transformer is not registered (is the lra-jax plugin installed?)", file=sys.stderr)
        return 2
    others = [m for m in jax_models if m != REFERENCE]
    if args.models:
        wanted = args.models.split(",")
        unknown = sorted(set(wanted) - set(jax_models))
        if unknown:
            print(f"--models: unknown jax model(s) {unknown}; choose from {jax_models}", file=sys.stderr)
            return 2
        others = [m for m in others if m in wanted]
    names = [REFERENCE, *others]
    proto = protocol(args, {})
    invocation = new_invocation_id()
    lengths = args.lengths

    # 1. Every jax model against jax/transformer, one invocation (shared baseline).
    jax_recs = run_profile([f"jax/{m}" for m in names], proto, invocation_id=invocation)
    by = {(r.model.id, r.task.length): r for r in jax_recs}
    print(f"\n## jax zoo: train-step time relative to jax/transformer (batch {args.batch_size}, {args.layers} layers "
          f"of Text code width, fp32, {args.threads} threads; step time excludes compilation)\n")
    header = (["model"] + [f"{L} ms" for L in lengths] + [f"{L} ratio" for L in lengths]
              + [f"{L} compile s" for L in lengths] + [f"{L} peak MB" for L in lengths])
    rows = []
    for m in names:
        recs = [by.get((f"jax/{m}", L)) for L in lengths]
        times = [ms(r) for r in recs]
        refs = [ms(by.get((f"jax/{REFERENCE}", L))) for L in lengths]
        rows.append([f"jax/{m}"] + [fmt(t) for t in times] + [fmt(ratio(t, r), ".2f") for t, r in zip(times, refs)]
                    + [fmt(compile_s(r), ".2f") for r in recs] + [fmt(peak_mb(r), ".0f") for r in recs])
    print(table(rows, header))
    failed = [f"{r.model.id} L={r.task.length}: {r.status} {r.error or ''}".strip() for r in jax_recs if not r.ok]

    if not args.skip_torch:
        # 2. Each jax model against its torch twin: same protocol, same resolved config.
        twins = [m for m in names if f"torch/{m}" in reg.models]
        torch_recs = run_profile([f"torch/{m}" for m in twins], proto, invocation_id=invocation)
        tby = {(r.model.id, r.task.length): r for r in torch_recs}
        print("\n## jax against its torch twin (ratio = jax / torch step time; below 1.0: jax is faster)\n")
        header = ["model"] + [f"{L} jax ms" for L in lengths] + [f"{L} torch ms" for L in lengths] + [f"{L} ratio" for L in lengths]
        rows = []
        for m in twins:
            a = [ms(by.get((f"jax/{m}", L))) for L in lengths]
            b = [ms(tby.get((f"torch/{m}", L))) for L in lengths]
            rows.append([m] + [fmt(x) for x in a] + [fmt(x) for x in b] + [fmt(ratio(x, y), ".2f") for x, y in zip(a, b)])
        print(table(rows, header))
        missing = sorted(set(names) - set(twins))
        if missing:
            print(f"\nNo torch twin registered for: {', '.join(missing)}")
        failed += [f"{r.model.id} L={r.task.length}: {r.status} {r.error or ''}".strip() for r in torch_recs if not r.ok]

    if failed:
        print("\nFailed runs:\n" + "\n".join(f"- {f[:300]}" for f in failed))
    return 0


if __name__ == "__main__":
    sys.exit(main())
