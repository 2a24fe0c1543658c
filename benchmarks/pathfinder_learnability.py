"""Data check, not an LRA result: can a small CNN read the Pathfinder label from the pixels?

Generates pathfinder32 images with the built-in generator (cached to an .npz file keyed by the
generator's parameters and code, so reruns skip generation), trains a small convolutional network
in torch on the CPU (outside LRA's rules, which forbid convolutions in the encoder) on the labels
alone, and prints its test accuracy on held-out images. A labelled image set is only useful if the
label is visible in the pixels; the issue's target is >= 85%.

The network: 3x3 convolutions, one at 32x32, then stride 2 to 16x16 with dilations 1-8 so the
receptive field spans the image, BatchNorm, global max + mean pooling, a linear classifier; AdamW
with a one-cycle schedule, label-preserving flips and quarter turns. Pathfinder is known for a long
plateau at chance before a network "gets" contour tracing. Measured on 2 CPU cores (hard, 60k train,
4k test): 0.53 after 4 epochs, 0.70 after 10, 0.94 after 24 (19 minutes of training at 2 threads;
the default). Before the generator kept the original's paddle-position rounding, the dashes' gaps
were dark and the same network stayed at chance (0.51 after 5 epochs).

    .venv/bin/python benchmarks/pathfinder_learnability.py                       # 60k train, 24 epochs (~20 min)
    .venv/bin/python benchmarks/pathfinder_learnability.py --difficulty easy --epochs 4
"""

from __future__ import annotations

import argparse
import hashlib
import os
import time
from pathlib import Path

import numpy as np


def _default_cache_dir() -> Path:
    return Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "lra-arena" / "pathfinder-learnability"


def load_or_generate(seed: int, n: int, workers: int, cache_dir: Path | None,
                     difficulty: str = "hard") -> tuple[dict[str, np.ndarray], float]:
    """The first ``n`` pathfinder32 images of ``seed`` and their labels, cached if asked."""
    from lra_task_specs.pathfinder import generator
    from lra_task_specs.pathfinder.generator import generate, params_for

    t0 = time.perf_counter()
    params = params_for(32, difficulty)
    # The parameters and the generator's code are part of the name: a change to either invalidates the cache.
    key = repr(params).encode() + Path(generator.__file__).read_bytes()
    tag = f"seed{seed}_{hashlib.sha1(key).hexdigest()[:8]}"
    if cache_dir is not None:
        for cand in sorted(cache_dir.glob(f"pathfinder32_{difficulty}_{tag}_*.npz")):
            if int(cand.stem.rsplit("_", 1)[1]) >= n:
                with np.load(cand) as saved:
                    data = {k: saved[k][:n] for k in saved.files}
                print(f"loaded {n} images from {cand}", flush=True)
                return data, time.perf_counter() - t0
    gen = generate(params, seed, np.arange(n), workers=workers, progress=True, desc=f"pathfinder32 {difficulty}")
    data = {"images": gen.images, "labels": gen.labels}
    if cache_dir is not None:
        path = cache_dir / f"pathfinder32_{difficulty}_{tag}_{n}.npz"
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(".tmp.npz")
        np.savez(tmp, **data)
        tmp.replace(path)
        print(f"cached {n} images in {path}", flush=True)
    return data, time.perf_counter() - t0


def build_cnn(width: int):
    """3x3 convolutions: one at 32x32, then 16x16 with dilations 1-8, BatchNorm + ReLU after each,
    global max and mean pooling, a linear classifier."""
    import torch
    from torch import nn

    def conv(cin: int, cout: int, dilation: int = 1, stride: int = 1) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, stride=stride, padding=dilation, dilation=dilation, bias=False),
                nn.BatchNorm2d(cout), nn.ReLU(inplace=True)]

    class Net(nn.Module):
        def __init__(self) -> None:
            super().__init__()
            w = width
            self.features = nn.Sequential(
                *conv(1, w // 2), *conv(w // 2, w, stride=2),
                *conv(w, w, 1), *conv(w, w, 2), *conv(w, w, 4), *conv(w, w, 8),
                *conv(w, w, 1), *conv(w, w, 2), *conv(w, w, 4), *conv(w, w, 1),
            )
            self.head = nn.Linear(2 * w, 2)

        def forward(self, x):
            f = self.features(x)
            return self.head(torch.cat([f.amax(dim=(2, 3)), f.mean(dim=(2, 3))], dim=1))

    return Net()


def _augment(x, k: int):
    """Flips and quarter turns keep the label (and the geometry, applied to every channel)."""
    import torch

    x = torch.rot90(x, k % 4, dims=(2, 3))
    return x.flip(3) if k >= 4 else x


def _progress(step: int, steps: int, t0: float, text: str) -> None:
    el = time.perf_counter() - t0
    rate = step / max(el, 1e-9)
    print(f"  step {step}/{steps}: {text} ({rate:.1f} steps/s, ETA {(steps - step) / max(rate, 1e-9):.0f}s)", flush=True)


def train_cnn(args, data: dict[str, np.ndarray]) -> tuple[float, str]:
    import torch
    from torch import nn

    x = torch.from_numpy(data["images"]).float().div_(255.0).unsqueeze(1)
    y = torch.from_numpy(data["labels"]).long()
    x_tr, y_tr, x_te, y_te = x[: args.train], y[: args.train], x[args.train :], y[args.train :]
    model = build_cnn(args.width)
    per_epoch = args.train // args.batch
    steps = args.epochs * per_epoch
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps, pct_start=0.2)
    loss_fn = nn.CrossEntropyLoss()
    t0 = time.perf_counter()
    step, window = 0, []
    for _ in range(args.epochs):
        perm = torch.randperm(args.train)
        for b in range(per_epoch):
            idx = perm[b * args.batch : (b + 1) * args.batch]
            loss = loss_fn(model(_augment(x_tr[idx], int(torch.randint(0, 8, ())))), y_tr[idx])
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            window.append(loss.item())
            if args.log_every and step % args.log_every == 0:
                # chance is ln 2 = 0.693
                _progress(step, steps, t0, f"loss {np.mean(window):.4f}")
                window = []
    model.eval()
    with torch.no_grad():
        pred = torch.cat([model(x_te[i : i + 1000]).argmax(1) for i in range(0, len(x_te), 1000)])
    acc = float((pred == y_te).float().mean())
    return acc, f"label-only CNN (width {args.width}), {args.epochs} epochs, training {time.perf_counter() - t0:.0f}s"


def main() -> None:
    import torch

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=60_000, help="training images")
    ap.add_argument("--test", type=int, default=4000, help="test images (disjoint indices)")
    ap.add_argument("--epochs", type=int, default=24)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=3e-3)
    ap.add_argument("--width", type=int, default=32, help="channels of the 16x16 convolutions")
    ap.add_argument("--workers", type=int, default=2, help="generator processes")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads (2 cores: 2)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--difficulty", default="hard", choices=["easy", "intermediate", "hard"],
                    help="hard is the LRA task")
    ap.add_argument("--cache-dir", type=Path, default=_default_cache_dir(),
                    help="where generated images are kept (default: %(default)s)")
    ap.add_argument("--no-cache", action="store_true", help="always generate, keep nothing")
    ap.add_argument("--log-every", type=int, default=100, help="print progress every N steps")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(max(1, args.threads))

    n = args.train + args.test
    data, gen_s = load_or_generate(args.seed, n, args.workers, None if args.no_cache else args.cache_dir,
                                   args.difficulty)
    print(f"{n} images ready in {gen_s:.1f}s; train label mean {data['labels'][: args.train].mean():.3f}", flush=True)
    acc, what = train_cnn(args, data)
    verdict = "PASS" if acc >= 0.85 else "BELOW TARGET"
    print(f"RESULT pathfinder32 {args.difficulty}, {what}: test accuracy {acc:.4f} on {args.test} images "
          f"({args.train} train, data {gen_s:.0f}s) -> {verdict} (target >= 0.85)", flush=True)


if __name__ == "__main__":
    main()
