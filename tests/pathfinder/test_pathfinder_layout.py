"""The official Pathfinder layout: writing, reading both metadata forms, the original samples."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lra_core.errors import MissingDataError, UserError
from lra_task_specs.pathfinder import layout
from lra_task_specs.pathfinder.generator import generate, params_for

SHARED = Path("/work/shared/data")
P32 = params_for(32, "hard")


@pytest.fixture(scope="module")
def small() -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    out = generate(P32, seed=11, indices=np.arange(10))
    return out.images, out.labels, out.margin


@pytest.mark.parametrize("fmt", ["text", "npy"])
def test_round_trip(tmp_path, small, fmt):
    images, labels, margins = small
    root = layout.write_layout(tmp_path, "curv_contour_length_14", images, labels, P32, margins,
                               batch_size=4, metadata_format=fmt)
    assert sorted(p.name for p in (root / "metadata").iterdir()) == ["0.npy", "1.npy", "2.npy"]
    assert (root / "imgs" / "2" / "sample_1.png").is_file()
    raw = (root / "metadata" / "0.npy").read_bytes()
    assert raw.startswith(b"\x93NUMPY") == (fmt == "npy")
    back, back_labels, names = layout.read_layout(root, 32)
    assert np.array_equal(back, images) and np.array_equal(back_labels, labels)
    assert names[5] == "imgs/1/sample_1.png"
    row = layout.read_metadata(root / "metadata" / "1.npy")[0]
    assert row[:4] == ["imgs/1", "sample_0.png", "0", str(labels[4])]
    assert row[5:8] == ["14", "4", "2"]


def test_empty_and_missing_pngs_are_skipped(tmp_path, small):
    images, labels, margins = small
    root = layout.write_layout(tmp_path, "curv_baseline", images[:4], labels[:4], P32, margins[:4])
    (root / "imgs" / "0" / "sample_1.png").write_bytes(b"")  # the release has such a file
    (root / "imgs" / "0" / "sample_2.png").unlink()
    back, back_labels, names = layout.read_layout(root, 32)
    assert names == ["imgs/0/sample_0.png", "imgs/0/sample_3.png"]
    assert np.array_equal(back, images[[0, 3]]) and np.array_equal(back_labels, labels[[0, 3]])


def test_condition_folder_is_found_from_the_release_root(tmp_path, small):
    images, labels, margins = small
    layout.write_layout(tmp_path / "lra_release" / "pathfinder32", "curv_contour_length_14", images[:2],
                        labels[:2], P32, margins[:2])
    for root in (tmp_path, tmp_path / "lra_release", tmp_path / "lra_release" / "pathfinder32"):
        found = layout.find_condition_dir(root, 32, "curv_contour_length_14")
        assert found.name == "curv_contour_length_14"
    with pytest.raises(MissingDataError, match="curv_baseline/metadata"):
        layout.find_condition_dir(tmp_path, 32, "curv_baseline")


def test_bad_files_are_user_errors(tmp_path, small):
    images, labels, margins = small
    root = layout.write_layout(tmp_path, "curv_contour_length_14", images[:2], labels[:2], P32, margins[:2])
    with pytest.raises(UserError, match="64x64"):
        layout.read_layout(root, 64)
    (root / "metadata" / "0.npy").write_text("imgs/0 sample_0.png 0 7 1.0\n")
    with pytest.raises(UserError, match="label 7"):
        layout.list_examples(root)
    (root / "metadata" / "0.npy").write_text("imgs/0 sample_0.png\n")
    with pytest.raises(UserError, match="fewer than 4"):
        layout.list_examples(root)


@pytest.mark.parametrize("folder, res, count", [("pathfinder32-original-sample", 32, 200),
                                                ("pathx128-original-sample", 128, 10)])
def test_reads_the_original_generator_samples(tmp_path, folder, res, count):
    src = SHARED / folder
    if not src.is_dir():
        pytest.skip(f"{src} not available")
    cdir = layout.find_condition_dir(src, res, "curv_contour_length_14")
    images, labels, names = layout.read_layout(cdir, res)
    assert images.shape == (count, res, res) and images.dtype == np.uint8
    meta = np.load(cdir / "metadata" / "0.npy")  # the sample keeps the generator's np.save form
    assert np.array_equal(labels, meta[:, 3].astype(int))
    first = np.asarray(Image.open(cdir / names[0]))
    assert np.array_equal(images[0], first)
    # The same rows as text (the released archive's form) read identically.
    text_root = tmp_path / "curv_contour_length_14"
    (text_root / "metadata").mkdir(parents=True)
    (text_root / "metadata" / "0.npy").write_text("".join(" ".join(r) + "\n" for r in meta))
    (text_root / "imgs").symlink_to(cdir / "imgs")
    t_images, t_labels, _ = layout.read_layout(text_root, res)
    assert np.array_equal(t_images, images) and np.array_equal(t_labels, labels)
