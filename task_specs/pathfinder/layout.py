"""The official Pathfinder file layout, both ways.

``<condition>/imgs/<batch>/sample_<n>.png`` (8-bit grayscale) with ``<condition>/metadata/<batch>.npy``.
A metadata row is ``[subpath, filename, index, label, continuity, contour_length, distractor_length,
paddle_length, paddle_thickness, paddle_margin, n_paddle_contrasts]``. The generator saved it with
``np.save`` (an (N, 11) string array), while the files in LRA's released archive are text, one
space-separated row per line, despite the ``.npy`` name; the reader accepts both. Empty PNGs (the
release has at least one) are skipped, as LRA's loader does.
"""

from __future__ import annotations

import io
from pathlib import Path
from typing import Iterable, Sequence

import numpy as np
from PIL import Image

from lra_core.errors import MissingDataError, UserError
from lra_core.io import write_text_atomic

from .generator import PathfinderParams

_NPY_MAGIC = b"\x93NUMPY"
#: Images per ``imgs/<batch>`` folder when exporting (the release uses folders of 1,000).
EXPORT_BATCH = 1000


def read_metadata(path: Path) -> list[list[str]]:
    """Rows of one metadata file, whether ``np.save`` binary or text."""
    raw = Path(path).read_bytes()
    if raw.startswith(_NPY_MAGIC):
        arr = np.load(io.BytesIO(raw), allow_pickle=False)
        if arr.ndim != 2 or arr.shape[1] < 4:
            raise UserError(f"{path}: expected an (N, 11) metadata array, found shape {arr.shape}")
        return [[str(v) for v in row] for row in arr]
    rows = [line.split(" ") for line in raw.decode("utf-8").split("\n") if line.strip()]
    bad = next((i for i, r in enumerate(rows) if len(r) < 4), None)
    if bad is not None:
        raise UserError(f"{path}: line {bad + 1} has fewer than 4 space-separated fields")
    return rows


def find_condition_dir(root: Path, resolution: int, condition: str) -> Path:
    """Accept the condition folder itself, a ``pathfinder<res>`` folder, or ``lra_release``."""
    root = Path(root)
    for cand in (root, root / condition, root / f"pathfinder{resolution}" / condition,
                 root / "lra_release" / f"pathfinder{resolution}" / condition):
        if (cand / "metadata").is_dir():
            return cand
    raise MissingDataError(
        f"--path {root}: no '{condition}/metadata/' found (looked in {root}, {root / condition}, "
        f"{root / f'pathfinder{resolution}' / condition}); point --path at the unpacked lra_release "
        f"folder or at pathfinder{resolution}/, or use the built-in generator (source 'generated')")


def _batch_key(p: Path) -> tuple[int, str]:
    return (int(p.stem), p.stem) if p.stem.isdigit() else (1 << 62, p.stem)


def list_examples(condition_dir: Path) -> list[tuple[Path, int]]:
    """(png path, label) for every metadata row whose PNG exists and is not empty, in file order."""
    meta_files = sorted(Path(condition_dir, "metadata").glob("*.npy"), key=_batch_key)
    if not meta_files:
        raise MissingDataError(f"{condition_dir}/metadata: no *.npy metadata files")
    out: list[tuple[Path, int]] = []
    for mf in meta_files:
        for row in read_metadata(mf):
            png = Path(condition_dir, row[0], row[1])
            try:
                label = int(float(row[3]))
            except ValueError:
                raise UserError(f"{mf}: label {row[3]!r} of {row[1]} is not a number") from None
            if label not in (0, 1):
                raise UserError(f"{mf}: label {label} of {row[1]} is not 0 or 1")
            if png.is_file() and png.stat().st_size > 0:
                out.append((png, label))
    return out


def read_images(paths: Sequence[Path], resolution: int) -> np.ndarray:
    """Decode PNGs into (N, res, res) uint8; a PNG of another size is a user error naming it."""
    images = np.empty((len(paths), resolution, resolution), dtype=np.uint8)
    for i, p in enumerate(paths):
        with Image.open(p) as im:
            arr = np.asarray(im.convert("L"))
        if arr.shape != (resolution, resolution):
            raise UserError(f"{p}: image is {arr.shape[1]}x{arr.shape[0]}, the task expects "
                            f"{resolution}x{resolution}; check the resolution folder")
        images[i] = arr
    return images


def read_layout(condition_dir: Path, resolution: int) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """All images of one condition folder: (images, labels, relative file names)."""
    examples = list_examples(condition_dir)
    images = read_images([p for p, _ in examples], resolution)
    labels = np.array([lab for _, lab in examples], dtype=np.int64)
    names = [str(p.relative_to(condition_dir)) for p, _ in examples]
    return images, labels, names


def metadata_row(batch: int, n: int, label: int, params: PathfinderParams, margin: int) -> list[str]:
    return [f"imgs/{batch}", f"sample_{n}.png", str(n), str(int(label)), str(params.continuity),
            str(params.contour_length), str(params.distractor_length), str(params.paddle_length),
            str(params.paddle_thickness), str(int(margin)), str(len(params.paddle_contrasts))]


def write_layout(directory: Path, condition: str, images: Iterable[np.ndarray], labels: Sequence[int],
                 params: PathfinderParams, margins: Sequence[int] | None = None,
                 batch_size: int = EXPORT_BATCH, metadata_format: str = "text",
                 progress: bool = False) -> Path:
    """Write ``directory/<condition>/imgs/<b>/sample_<n>.png`` and ``metadata/<b>.npy``.

    Metadata is written last and atomically per batch, so a reader never lists a PNG that is not
    complete. ``metadata_format``: ``text`` (as LRA's released archive) or ``npy`` (as the generator).
    """
    if metadata_format not in ("text", "npy"):
        raise UserError(f"metadata_format {metadata_format!r}: use 'text' or 'npy'")
    root = Path(directory) / condition
    labels = list(labels)
    margins = list(margins) if margins is not None else [params.paddle_margins[0]] * len(labels)
    bar = None
    if progress:
        from tqdm import tqdm

        bar = tqdm(total=len(labels), desc=f"export {condition}", unit="img")
    rows: list[list[str]] = []
    batch = 0
    for i, img in enumerate(images):
        b, n = divmod(i, batch_size)
        if b != batch:
            _write_metadata(root, batch, rows, metadata_format)
            rows, batch = [], b
        folder = root / "imgs" / str(b)
        folder.mkdir(parents=True, exist_ok=True)
        Image.fromarray(np.asarray(img, dtype=np.uint8), mode="L").save(folder / f"sample_{n}.png")
        rows.append(metadata_row(b, n, labels[i], params, margins[i]))
        if bar is not None:
            bar.update(1)
    if rows:
        _write_metadata(root, batch, rows, metadata_format)
    if bar is not None:
        bar.close()
    return root


def _write_metadata(root: Path, batch: int, rows: list[list[str]], fmt: str) -> None:
    path = root / "metadata" / f"{batch}.npy"
    path.parent.mkdir(parents=True, exist_ok=True)
    if fmt == "text":
        write_text_atomic(path, "".join(" ".join(r) + "\n" for r in rows))
    else:
        tmp = path.with_name(f".{path.name}.tmp")
        with open(tmp, "wb") as f:
            np.save(f, np.array(rows))
        tmp.replace(path)

