"""Pathfinder generator speed: images/s per resolution and the projected time for 200,000 images.

    .venv/bin/python benchmarks/pathfinder.py                 # 32, 64, 128, 256; hard; 2 workers
    .venv/bin/python benchmarks/pathfinder.py --resolutions 32 --images 4096 --workers 2

Wall-clock rates depend on what else runs on the machine; a per-core rate (a quarter of the images
generated in this process, rated by its own CPU time) is printed too, which is less sensitive to
contention: two idle cores give about twice that. Target: 200,000 images at 32x32 in
under 15 minutes on 2 cores (>= 223 images/s).
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from lra_task_specs.pathfinder.generator import generate, params_for

DEFAULT_IMAGES = {32: 2048, 64: 128, 128: 128, 256: 32}
FULL = 200_000


def _hms(seconds: float) -> str:
    h, rem = divmod(int(seconds), 3600)
    m, s = divmod(rem, 60)
    return f"{h}h{m:02d}m{s:02d}s" if h else f"{m}m{s:02d}s"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--resolutions", type=int, nargs="+", default=[32, 64, 128, 256])
    ap.add_argument("--difficulty", default="hard", choices=["easy", "intermediate", "hard"])
    ap.add_argument("--images", type=int, default=None, help="images per resolution (default: per resolution)")
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--seed", type=int, default=0)
    args = ap.parse_args()
    print(f"cores: {os.cpu_count()}, workers: {args.workers}, load average: "
          f"{' '.join(f'{x:.1f}' for x in os.getloadavg())} (other jobs share these cores)")
    print(f"{'res':>4} {'images':>7} {'wall s':>8} {'img/s':>8} {'img/s/core':>11} {'200k projected':>15} "
          f"{'restarts/img':>13} {'distractors/img':>16}")
    for res in args.resolutions:
        params = params_for(res, args.difficulty)
        n = args.images or DEFAULT_IMAGES.get(res, 64)
        generate(params, args.seed, np.arange(4), workers=1)  # warm the geometry caches
        t0 = time.perf_counter()
        out = generate(params, args.seed, np.arange(1000, 1000 + n), workers=args.workers)
        wall = time.perf_counter() - t0
        rate = n / wall
        # Workers start through a forkserver, so their CPU time is not visible here: rate one core
        # in this process instead (CPU time, not wall time).
        m = max(1, n // 4)
        cpu0 = time.process_time()
        generate(params, args.seed, np.arange(10**6, 10**6 + m), workers=1)
        cpu = time.process_time() - cpu0
        per_core = m / cpu if cpu > 0 else float("nan")
        print(f"{res:>4} {n:>7} {wall:>8.1f} {rate:>8.1f} {per_core:>11.1f} {_hms(FULL / rate):>15} "
              f"{out.attempts.mean():>13.1f} {out.distractors.mean():>16.2f}", flush=True)


if __name__ == "__main__":
    main()
