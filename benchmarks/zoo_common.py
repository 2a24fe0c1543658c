"""What the zoo benchmarks share: the CPU-sized profiling protocol, its flags, and table formatting.

Both ``zoo_torch.py`` and ``zoo_jax.py`` time train steps through the core profiling protocol
(``lra_core.profiling``); this module keeps their settings identical so their ratios are comparable.
"""

from __future__ import annotations

import argparse
from typing import Any

from lra_core.profiling import ProfileProtocol
from lra_core.profiling.record import ProfileRecord


def add_protocol_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument("--lengths", type=lambda s: [int(x) for x in s.split(",")], default=[1024, 2048, 4096])
    p.add_argument("--batch-size", type=int, default=1)
    p.add_argument("--layers", type=int, default=2)
    # 3 warm-up steps: in a fresh worker process the second and third CPU steps still run 5-15% slow
    # while the allocator's heap settles, and by unequal amounts for different models.
    p.add_argument("--warmup", type=int, default=3)
    p.add_argument("--steps", type=int, default=3)
    p.add_argument("--repeats", type=int, default=1)
    p.add_argument("--threads", type=int, default=2, help="CPU threads per worker process")
    p.add_argument("--learning-rate", type=float, default=1e-5, help="lr of the timed train steps (keeps them finite)")
    p.add_argument("--timeout", type=float, default=900.0, help="seconds per worker process")


def protocol(args: argparse.Namespace, overrides: dict[str, Any] | None = None) -> ProfileProtocol:
    return ProfileProtocol(
        lengths=args.lengths,
        batch_size=args.batch_size,
        task="text",
        preset="code",
        warmup_steps=args.warmup,
        measured_steps=args.steps,
        repeats=args.repeats,
        threads=args.threads,
        count_flops=False,
        # Mean pooling keeps the encoder length a power of two (no CLS), which several packages need.
        # A small learning rate: at Text's 0.05 with batch 1 the model saturates within a few steps
        # (loss 0), its gradients go subnormal, and a step then takes 10-50x longer on x86 at random
        # steps, which times the divergence, not the method.
        overrides={"model.num_layers": args.layers, "model.dropout": 0.0, "model.attention_dropout": 0.0,
                   "pooling": "mean", "training.learning_rate": args.learning_rate, **(overrides or {})},
        timeout_s=args.timeout,
    )


def ms(rec: ProfileRecord | None) -> float | None:
    """Median step time in milliseconds, None for a failed or missing configuration."""
    if rec is None or not rec.ok or rec.timings.stats is None:
        return None
    return rec.timings.stats.median * 1e3


def fmt(x: float | None, spec: str = ".1f") -> str:
    return "-" if x is None else format(x, spec)


def table(rows: list[list[str]], header: list[str]) -> str:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    out = ["| " + " | ".join(h.ljust(w) for h, w in zip(header, widths)) + " |"]
    out.append("|" + "|".join("-" * (w + 2) for w in widths) + "|")
    out += ["| " + " | ".join(c.ljust(w) for c, w in zip(r, widths)) + " |" for r in rows]
    return "\n".join(out)
