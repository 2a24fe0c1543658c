"""Pathfinder and Path-X tasks: every resolution and difficulty as a named task.

``TASKS`` holds 12 tasks built from ``spec.toml`` (pathfinder 32x32 hard) plus per-variant changes:
``pathfinder`` (32), ``pathfinder64``, ``pathx`` (128, LRA's Path-X), ``pathx256``, each also as
``-easy`` and ``-intermediate`` (contour length 6 / 9; the unmarked name is hard, 14).

Sources: ``generated`` (default) runs the built-in generator (``request.options``: ``workers``, the
number of processes, default all cores); ``official`` reads the released layout from ``--path``.
"""

from __future__ import annotations

import copy
import functools
import os
from pathlib import Path
from typing import Any

from typing import TYPE_CHECKING

import numpy as np

from lra_core import BuildRequest, Task, load_task_spec
from lra_core.errors import MissingDataError, UserError
from lra_core.specs import TaskSpec, parse_task_spec

from . import layout
from .generator import CONDITIONS, GeneratedImages, PathfinderParams, generate, params_for

if TYPE_CHECKING:  # datasets / pyarrow load lazily: importing them costs seconds at CLI start
    import pyarrow as pa
    from datasets import Dataset, DatasetDict

HERE = Path(__file__).resolve().parent
SPLITS = ("train", "validation", "test")

#: Per resolution: base task name, pooling, and the LRA base config's training and encoder settings.
_RESOLUTIONS: dict[int, dict[str, Any]] = {
    32: dict(name="pathfinder", label="Pathfinder"),  # settings live in spec.toml
    64: dict(
        name="pathfinder64", label="Pathfinder 64x64", pooling="cls",
        code=dict(note="LRA base_pathfinder64_config: 200 epochs of 160,000 at batch 256 (625 steps/epoch), "
                       "warmup 1 epoch, cosine, learned positions, CLS pooling. Evaluation every epoch.",
                  encoder=dict(d_model=32, num_heads=4, num_layers=2, mlp_dim=32, qkv_dim=32, dropout=0.1,
                               attention_dropout=0.1, positional="learned"),
                  training=dict(batch_size=256, num_train_steps=125000, learning_rate=0.001,
                                schedule="constant*linear_warmup*cosine_decay", warmup_steps=625,
                                weight_decay=0.0, eval_every=625)),
        smoke=dict(splits=dict(train=256, validation=32, test=32), batch_size=16, steps=10),
    ),
    128: dict(
        name="pathx", label="Path-X 128x128",
        code=dict(note="LRA base_pathfinder128_config: 200 epochs of 160,000 at batch 64 (2,500 steps/epoch), "
                       "warmup 1 epoch, cosine, gradient clipping 1.0, learned positions, mean pooling. "
                       "Evaluation every epoch.",
                  encoder=dict(d_model=32, num_heads=2, num_layers=1, mlp_dim=32, qkv_dim=16, dropout=0.1,
                               attention_dropout=0.1, positional="learned"),
                  training=dict(batch_size=64, num_train_steps=500000, learning_rate=0.001,
                                schedule="constant*linear_warmup*cosine_decay", warmup_steps=2500,
                                weight_decay=0.0, grad_clip_norm=1.0, eval_every=2500)),
        smoke=dict(splits=dict(train=64, validation=16, test=16), batch_size=4, steps=4),
    ),
    256: dict(
        name="pathx256", label="Path-X 256x256", pooling="cls",
        code=dict(note="LRA base_pathfinder256_config: 100 epochs of 160,000 at batch 32 (5,000 steps/epoch), "
                       "warmup 1 epoch, cosine, learned positions, CLS pooling. Evaluation every epoch.",
                  encoder=dict(d_model=32, num_heads=4, num_layers=2, mlp_dim=32, qkv_dim=32, dropout=0.1,
                               attention_dropout=0.1, positional="learned"),
                  training=dict(batch_size=32, num_train_steps=500000, learning_rate=0.001,
                                schedule="constant*linear_warmup*cosine_decay", warmup_steps=5000,
                                weight_decay=0.0, eval_every=5000)),
        smoke=dict(splits=dict(train=32, validation=8, test=8), batch_size=2, steps=4),
    ),
}
_DIFFICULTY_LABEL = {"easy": "easy, contour length 6", "intermediate": "intermediate, contour length 9",
                     "hard": "hard, contour length 14"}


def task_name(resolution: int, difficulty: str) -> str:
    base = _RESOLUTIONS[resolution]["name"]
    return base if difficulty == "hard" else f"{base}-{difficulty}"


def variant_spec(base: dict[str, Any], resolution: int, difficulty: str) -> TaskSpec:
    """The spec of one variant: spec.toml with the resolution's settings and the difficulty folded in."""
    raw = copy.deepcopy(base)
    cfg = _RESOLUTIONS[resolution]
    name = task_name(resolution, difficulty)
    params = params_for(resolution, difficulty)
    raw["id"] = name
    raw["title"] = f"{cfg['label'] if resolution != 32 else 'Pathfinder 32x32'} ({difficulty})"
    raw["max_length"] = resolution * resolution
    raw["description"] = (
        f"Are the two circles connected by one dashed path? {resolution}x{resolution} grayscale images "
        f"flattened row-major to {resolution * resolution:,} intensity tokens (0-255); {_DIFFICULTY_LABEL[difficulty]}, "
        f"{params.num_distractors} distractor snakes of {params.distractor_length} paddles; official folder "
        f"pathfinder{resolution}/{CONDITIONS[difficulty]}. Family: pathfinder, pathfinder64, pathx (LRA's Path-X), "
        f"pathx256, each also as -easy and -intermediate; the unmarked name is hard.")
    deviations = list(raw.get("deviations", []))
    if difficulty != "hard":
        deviations.append("LRA states only the hard setting (contour length 14); easy = 6 and intermediate = 9 "
                          "follow the upstream generator wrapper (curv_baseline, curv_contour_length_9).")
    if resolution == 256:
        deviations.append("The 256 generator arguments do not list padding or seed_distance; the wrapper defaults "
                          "(22 and 27) are used.")
    if resolution != 32:
        raw.pop("reference", None)
        raw["presets"].pop("paper", None)
        raw["presets"]["code"] = cfg["code"]
        smoke = raw["presets"]["smoke"]
        sm = cfg["smoke"]
        smoke["splits"] = sm["splits"]
        smoke["training"] = dict(smoke["training"], batch_size=sm["batch_size"], num_train_steps=sm["steps"],
                                 warmup_steps=1, eval_every=max(1, sm["steps"] // 2))
        smoke["encoder"] = dict(smoke["encoder"], positional="learned")
        total = sum(sm["splits"].values())
        smoke["note"] = (f"Tiny: {total} generated images at the real {resolution}x{resolution} resolution "
                         f"({sm['splits']['train']} train), a 1-layer width-16 encoder, {sm['steps']} steps. "
                         f"Sequences are {resolution * resolution:,} tokens long: use an efficient encoder.")
    if cfg.get("pooling") == "cls":
        raw["pooling"] = "cls"
        raw["vocab_size"] = 257
        raw["cls_id"] = 256
        deviations.append("CLS pooling (as LRA's config) uses the reserved token id 256 (vocab 257) that the data "
                          "layer prepends; LRA prepended a learned vector and masked it like pixel (0, 0).")
    if resolution == 128 and difficulty == "hard":
        raw["reference"] = {k: None for k in base.get("reference", {})}  # Table 1: every model FAIL
    elif difficulty != "hard":
        raw.pop("reference", None)
    raw["deviations"] = deviations
    # LRA's suite has Pathfinder (32) and Path-X (128), hard; the other variants are run by name.
    raw["suite"] = resolution in (32, 128) and difficulty == "hard"
    return parse_task_spec(raw, where=f"{HERE / 'spec.toml'} (variant {name})")


# --------------------------------------------------------------------------------------------
# Building data.


def _fixed_lists(arr: np.ndarray, value_type: "pa.DataType") -> "pa.Array":
    import pyarrow as pa

    flat = arr.reshape(len(arr), -1)
    return pa.FixedSizeListArray.from_arrays(pa.array(flat.reshape(-1), type=value_type), flat.shape[1])


def _table(columns: dict[str, np.ndarray | list]) -> "pa.Table":
    import pyarrow as pa

    arrays, names = [], []
    for name, col in columns.items():
        if isinstance(col, np.ndarray) and col.ndim > 1:
            arrays.append(_fixed_lists(col, pa.uint8() if col.dtype == np.uint8 else pa.int16()))
        elif isinstance(col, np.ndarray):
            arrays.append(pa.array(col))
        else:
            arrays.append(pa.array(col, type=pa.string()))
        names.append(name)
    return pa.Table.from_arrays(arrays, names=names)


def _dataset(columns: dict[str, np.ndarray | list]) -> "Dataset":
    from datasets import Dataset

    return Dataset(_table(columns))


def generated_columns(gen: GeneratedImages) -> dict[str, np.ndarray]:
    """Image tokens, label and the geometry a checker needs (pixel coordinates are (y, x))."""
    n = len(gen)
    return {
        "inputs": gen.images.reshape(n, -1),
        "label": gen.labels.astype(np.int64),
        "index": gen.indices.astype(np.int64),
        "marker_origin": gen.marker_origin.astype(np.int16),
        "marker_terminal": gen.marker_terminal.astype(np.int16),
        "snake_tips": gen.snake_tips.reshape(n, 8).astype(np.int16),  # [snake][seed tip, far tip][y, x]
        "snake_pivots": gen.snake_pivots.reshape(n, -1).astype(np.int16),  # [snake][paddle][y, x]
        "origin_snake": gen.origin_snake.astype(np.int8),
        "terminal_snake": gen.terminal_snake.astype(np.int8),
        "margin": gen.margin.astype(np.int8),
        "distractors": gen.distractors.astype(np.int8),
    }


def _sizes(request: BuildRequest) -> dict[str, int]:
    sizes = {s: int(request.task.splits.get(s, 0)) for s in SPLITS}
    bad = [s for s, n in sizes.items() if n < 1]
    if bad:
        raise UserError(f"splits: {bad} must hold at least one image for task {request.task.task!r}")
    return sizes


def _workers(request: BuildRequest) -> int:
    w = request.options.get("workers", os.cpu_count() or 1)
    try:
        w = int(w)
    except (TypeError, ValueError):
        raise UserError(f"option workers={w!r}: give a whole number of processes") from None
    if w < 1:
        raise UserError(f"option workers={w}: give at least 1")
    return w


#: Images generated per slice; each slice becomes Arrow at once, so memory stays near the Arrow size.
_SLICE = 16384


def build_generated(request: BuildRequest, params: PathfinderParams) -> "DatasetDict":
    """Split s takes the global indices after the previous splits: train [0, n_train), then validation..."""
    import pyarrow as pa
    from datasets import Dataset, DatasetDict
    from tqdm import tqdm

    sizes = _sizes(request)
    total = sum(sizes.values())
    workers = _workers(request)
    out, start = {}, 0
    with tqdm(total=total, desc=f"{request.task.task} (seed {request.seed})", unit="img",
              disable=total < 2000) as bar:
        for split in SPLITS:
            tables = []
            for lo in range(start, start + sizes[split], _SLICE):
                hi = min(lo + _SLICE, start + sizes[split])
                gen = generate(params, request.seed, np.arange(lo, hi), workers=workers)
                tables.append(_table(generated_columns(gen)))
                bar.update(hi - lo)
            out[split] = Dataset(pa.concat_tables(tables))
            start += sizes[split]
    return DatasetDict(out)


def build_official(request: BuildRequest, params: PathfinderParams, condition: str) -> "DatasetDict":
    """Read the released layout; shuffle with the seed; cut the split sizes (or 80/10/10 if fewer)."""
    from datasets import DatasetDict

    res = params.resolution
    if request.path is None:
        raise MissingDataError(
            f"task {request.task.task!r}, source 'official': give --path to the unpacked lra_release folder "
            f"(or its pathfinder{res}/ folder); or use source 'generated' to build the data here")
    cdir = layout.find_condition_dir(request.path, res, condition)
    examples = layout.list_examples(cdir)
    order = np.random.default_rng(request.seed).permutation(len(examples))
    sizes = _sizes(request)
    if len(examples) < sum(sizes.values()):
        n = len(examples)
        n_train, n_val = int(round(0.8 * n)), int(round(0.1 * n))
        sizes = {"train": n_train, "validation": n_val, "test": n - n_train - n_val}
    out, start = {}, 0
    for split in SPLITS:
        chosen = [examples[i] for i in order[start : start + sizes[split]]]
        start += sizes[split]
        images = layout.read_images([p for p, _ in chosen], res)
        out[split] = _dataset({
            "inputs": images.reshape(len(chosen), -1),
            "label": np.array([lab for _, lab in chosen], dtype=np.int64),
            "source_file": [str(p.relative_to(cdir)) for p, _ in chosen],
        })
    return DatasetDict(out)


def build(request: BuildRequest, params: PathfinderParams, condition: str) -> "DatasetDict":
    if request.source == "generated":
        return build_generated(request, params)
    if request.source == "official":
        return build_official(request, params, condition)
    raise UserError(f"--source {request.source!r}: task {request.task.task!r} offers 'generated' or 'official'")


# --------------------------------------------------------------------------------------------
# Viewing and exporting.


def render(example: dict[str, Any], path: Path | None, task: str = "pathfinder") -> str:
    """Write the image as an upscaled PNG whose name and title carry the label; return a description.

    ``path``: a ``.png`` file, or a folder (the file is named ``<task>[_index<i>]_label<l>.png``);
    ``None`` writes nothing and returns the description only.
    """
    pixels = np.asarray(example["inputs"], dtype=np.uint8)
    res = int(round(len(pixels) ** 0.5))
    if res * res != len(pixels):
        raise UserError(f"example of task {task!r}: {len(pixels)} tokens is not a square image")
    img = pixels.reshape(res, res)
    label = int(example["label"])
    meaning = "connected" if label == 1 else "not connected"
    desc = (f"{task}: {res}x{res} image, label {label} ({meaning}), mean intensity {img.mean():.1f}, "
            f"{(img > 0).mean():.0%} of pixels lit")
    if "marker_origin" in example:
        desc += f", markers at {tuple(example['marker_origin'])} and {tuple(example['marker_terminal'])} (y, x)"
    if path is None:
        return desc
    from PIL import Image, PngImagePlugin

    path = Path(path)
    if path.suffix.lower() != ".png":
        index = f"_index{int(example['index'])}" if "index" in example else ""
        path = path / f"{task}{index}_label{label}.png"
    path.parent.mkdir(parents=True, exist_ok=True)
    scale = max(1, 512 // res)
    big = Image.fromarray(img, mode="L").resize((res * scale, res * scale), Image.NEAREST)
    info = PngImagePlugin.PngInfo()
    info.add_text("Title", f"{task} label {label} ({meaning})")
    tmp = path.with_name(f".{path.name}.tmp")
    big.save(tmp, format="PNG", pnginfo=info)
    tmp.replace(path)
    return f"wrote {path} (upscaled x{scale}): {desc}"


def export(dataset: "DatasetDict", directory: Path, params: PathfinderParams, condition: str) -> None:
    """Write every split (train, validation, test in that order) in the official layout."""
    splits = [s for s in SPLITS if s in dataset]
    if not splits:
        raise UserError("export: the dataset has none of the splits train/validation/test")
    res = params.resolution

    def images():
        for split in splits:
            for row in dataset[split].with_format("numpy").iter(batch_size=1000):
                yield from np.asarray(row["inputs"], dtype=np.uint8).reshape(-1, res, res)

    labels = np.concatenate([np.asarray(dataset[s]["label"]) for s in splits])
    margins = (np.concatenate([np.asarray(dataset[s]["margin"]) for s in splits])
               if all("margin" in dataset[s].column_names for s in splits) else None)
    layout.write_layout(Path(directory), condition, images(), labels, params, margins,
                        progress=len(labels) >= 2000)


def make_tasks() -> list[Task]:
    base = load_task_spec(HERE / "spec.toml").model_dump(mode="python", exclude_none=False)
    tasks = []
    for resolution in (32, 64, 128, 256):
        for difficulty in ("hard", "intermediate", "easy"):
            spec = variant_spec(base, resolution, difficulty)
            params = params_for(resolution, difficulty)
            condition = CONDITIONS[difficulty]
            tasks.append(Task(
                spec=spec,
                builder=functools.partial(build, params=params, condition=condition),
                exporter=functools.partial(export, params=params, condition=condition),
                render=functools.partial(render, task=spec.id),
            ))
    return tasks


TASKS: list[Task] = make_tasks()
