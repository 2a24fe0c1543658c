"""Data check, not an LRA result: can a small CNN read the Pathfinder label from the pixels?

Generates pathfinder32 "hard" images with the built-in generator, trains a small convolutional
network in torch on the CPU (outside LRA's rules, which forbid convolutions in the encoder) and
prints its test accuracy. A labelled image set is only useful if the label is visible in the pixels;
the target is >= 85% within minutes on a CPU.

    .venv/bin/python benchmarks/pathfinder_learnability.py --train 20000 --epochs 6
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    import torch
    from torch import nn

    from lra_task_specs.pathfinder.generator import generate, params_for

    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--train", type=int, default=20000, help="training images")
    ap.add_argument("--test", type=int, default=2000, help="test images (disjoint indices)")
    ap.add_argument("--epochs", type=int, default=6)
    ap.add_argument("--batch", type=int, default=128)
    ap.add_argument("--lr", type=float, default=2e-3)
    ap.add_argument("--workers", type=int, default=2, help="generator processes")
    ap.add_argument("--threads", type=int, default=2, help="torch CPU threads")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--width", type=int, default=16, help="channels of the first convolutions")
    ap.add_argument("--cache", default=None, help="an .npz file to keep the generated images in")
    args = ap.parse_args()
    torch.manual_seed(args.seed)
    torch.set_num_threads(args.threads)

    params = params_for(32, "hard")
    n = args.train + args.test
    t0 = time.perf_counter()
    cache = Path(args.cache) if args.cache else None
    if cache is not None and cache.is_file() and len(np.load(cache)["labels"]) >= n:
        saved = np.load(cache)
        images, labels = saved["images"][:n], saved["labels"][:n]
        print(f"loaded {n} images from {cache}")
    else:
        data = generate(params, args.seed, np.arange(n), workers=args.workers, progress=True,
                        desc="pathfinder32 hard")
        images, labels = data.images, data.labels
        if cache is not None:
            np.savez(cache, images=images, labels=labels)
    gen_s = time.perf_counter() - t0
    x = torch.from_numpy(images).float().div_(255.0).unsqueeze(1)
    y = torch.from_numpy(labels).long()
    x_tr, y_tr, x_te, y_te = x[: args.train], y[: args.train], x[args.train :], y[args.train :]
    print(f"{n} images ready in {gen_s:.1f}s; train label mean {y_tr.float().mean():.3f}")

    def block(cin: int, cout: int) -> list[nn.Module]:
        return [nn.Conv2d(cin, cout, 3, padding=1), nn.BatchNorm2d(cout), nn.ReLU()]

    # Two convolutions per scale, pooled 32 -> 16 -> 8, then a global max over positions.
    w = args.width
    model = nn.Sequential(
        *block(1, w), *block(w, w), nn.MaxPool2d(2),
        *block(w, 2 * w), *block(2 * w, 2 * w), nn.MaxPool2d(2),
        *block(2 * w, 4 * w), *block(4 * w, 4 * w),
        nn.AdaptiveMaxPool2d(1), nn.Flatten(), nn.Linear(4 * w, 64), nn.ReLU(), nn.Linear(64, 2),
    )
    steps = args.epochs * (args.train // args.batch)
    opt = torch.optim.AdamW(model.parameters(), lr=args.lr, weight_decay=1e-4)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=args.lr, total_steps=steps)
    loss_fn = nn.CrossEntropyLoss()

    def accuracy(xs: torch.Tensor, ys: torch.Tensor) -> float:
        model.eval()
        with torch.no_grad():
            pred = torch.cat([model(xs[i : i + 512]).argmax(1) for i in range(0, len(xs), 512)])
        model.train()
        return float((pred == ys).float().mean())

    t1 = time.perf_counter()
    step = 0
    for epoch in range(args.epochs):
        perm = torch.randperm(args.train)
        total = 0.0
        for i in range(0, args.train - args.batch + 1, args.batch):
            idx = perm[i : i + args.batch]
            xb = x_tr[idx]
            if torch.rand(()) < 0.5:  # flips keep the label; cheap augmentation
                xb = xb.flip(3)
            loss = loss_fn(model(xb), y_tr[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            step += 1
            total += loss.item()
        n_batches = args.train // args.batch
        print(f"epoch {epoch + 1}/{args.epochs}: train loss {total / n_batches:.4f}, "
              f"test accuracy {accuracy(x_te, y_te):.4f} ({time.perf_counter() - t1:.0f}s)", flush=True)
    acc = accuracy(x_te, y_te)
    print(f"RESULT pathfinder32 hard, small CNN: test accuracy {acc:.4f} on {args.test} images "
          f"({args.train} train, {args.epochs} epochs, training {time.perf_counter() - t1:.0f}s, "
          f"data {gen_s:.0f}s)")


if __name__ == "__main__":
    main()
