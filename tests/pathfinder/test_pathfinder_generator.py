"""The Pathfinder generator: determinism, labels, geometry and image statistics."""

from __future__ import annotations

import glob
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from lra_task_specs.pathfinder import generator as g

SHARED = Path("/work/shared/data")
P32 = g.params_for(32, "hard")


@pytest.fixture(scope="module")
def batch32() -> g.GeneratedImages:
    return g.generate(P32, seed=3, indices=np.arange(96), chunk_size=32)


def test_published_arguments_per_resolution():
    assert (P32.paddle_length, P32.paddle_thickness, P32.marker_radius, P32.seed_distance) == (2, 0.5, 1.5, 7)
    assert (P32.distractor_length, P32.num_distractors) == (4, 5)  # 14 // 3, 20 // 4
    p128 = g.params_for(128, "hard")
    assert p128.paddle_margins == (2, 3) and p128.num_distractors == 8  # 35 // 4
    assert g.params_for(32, "easy").num_distractors == 10  # 20 // (6 // 3)
    assert g.params_for(64, "intermediate").contour_length == 9
    with pytest.raises(ValueError):
        g.params_for(48, "hard")


def test_same_index_same_image_regardless_of_batching(batch32):
    again = g.generate(P32, seed=3, indices=np.arange(96), chunk_size=7)
    assert np.array_equal(again.images, batch32.images)
    for i in (0, 41, 95):
        one = g.generate_one(P32, seed=3, index=i)
        assert np.array_equal(one.images[0], batch32.images[i])
        assert one.labels[0] == batch32.labels[i]
        assert np.array_equal(one.snake_tips[0], batch32.snake_tips[i])
    reordered = g.generate(P32, seed=3, indices=np.array([95, 10, 3]))
    assert np.array_equal(reordered.images, batch32.images[[95, 10, 3]])


def test_worker_count_does_not_change_images(batch32):
    par = g.generate(P32, seed=3, indices=np.arange(48), workers=2, chunk_size=16)
    assert np.array_equal(par.images, batch32.images[:48])


def test_seed_changes_images(batch32):
    other = g.generate(P32, seed=4, indices=np.arange(8))
    assert not np.array_equal(other.images, batch32.images[:8])


def test_labels_balanced_in_every_pair():
    idx = np.arange(10_000)
    labels = g.labels_for(7, P32, idx)
    assert np.all(labels[0::2] + labels[1::2] == 1)
    assert labels.sum() == 5000
    # Not a fixed alternation: the order inside pairs is drawn.
    assert 0.4 < labels[0::2].mean() < 0.6


def test_markers_sit_on_snake_tips_and_label_follows_geometry(batch32):
    b = batch32
    n = len(b)
    ar = np.arange(n)
    assert np.array_equal(b.marker_origin, b.snake_tips[ar, b.origin_snake, 0])
    assert np.array_equal(b.marker_terminal, b.snake_tips[ar, b.terminal_snake, 1])
    assert np.array_equal(b.labels, (b.origin_snake == b.terminal_snake).astype(int))
    assert set(np.unique(b.labels)) == {0, 1}
    for i in range(n):
        geo = g.geometry(P32, int(b.margin[i]))
        step = P32.paddle_length + 2 * int(b.margin[i])
        for s in range(2):
            piv = b.snake_pivots[i, s]
            # Consecutive paddles are one step (L + 2m) apart: one unbroken chain per snake.
            gaps = np.hypot(*np.diff(piv, axis=0).T)
            assert np.all(np.abs(gaps - step) <= 1.0), (i, s, gaps)
            # The far tip is the head of the last paddle; the seed tip starts the first one.
            head_dist = np.hypot(*(b.snake_tips[i, s, 1] - piv[-1]))
            assert abs(head_dist - (P32.paddle_length + b.margin[i])) <= 1.0
            assert np.hypot(*(b.snake_tips[i, s, 0] - piv[0])) <= b.margin[i] + 1.0
        # The two target snakes are different chains: their seed tips are seed_distance apart.
        seed_gap = np.hypot(*(b.snake_tips[i, 0, 0] - b.snake_tips[i, 1, 0]))
        assert abs(seed_gap - P32.seed_distance) <= 1.0
        assert len(geo.offsets) > 8


def test_markers_and_paddles_are_visible(batch32):
    b = batch32
    for i in range(len(b)):
        img = b.images[i].astype(int)
        for y, x in (b.marker_origin[i], b.marker_terminal[i]):
            assert img[y, x] >= 150, (i, y, x, img[y, x])
        # Every target paddle lights pixels around its centre.
        geo = g.geometry(P32, int(b.margin[i]))
        for s in range(2):
            for piv in b.snake_pivots[i, s]:
                y, x = np.clip(piv, 0, 31)
                assert img[max(0, y - 3) : y + 4, max(0, x - 3) : x + 4].max() > 60
        assert img.max() == 255
    assert len(geo.sprite)


def _stats(images: np.ndarray) -> dict[str, float]:
    x = images.astype(np.float64)
    return {"mean": x.mean(), "lit": (x > 0).mean(), "over64": (x > 64).mean(), "over128": (x > 128).mean()}


def _original(folder: str) -> np.ndarray | None:
    files = sorted(glob.glob(str(SHARED / folder / "curv_contour_length_14" / "imgs" / "0" / "*.png")))
    if not files:
        return None
    return np.stack([np.asarray(Image.open(f)) for f in files])


def _per_image(images: np.ndarray) -> dict[str, np.ndarray]:
    x = images.reshape(len(images), -1).astype(np.float64)
    return {"mean": x.mean(axis=1), "lit": (x > 0).mean(axis=1), "over64": (x > 64).mean(axis=1),
            "over128": (x > 128).mean(axis=1)}


# Allowed distance between our batch's statistic and the original sample's, in units of the sample's
# per-image standard deviation (its natural spread). 32x32: 96 of ours vs 200 originals, so the
# batch means are tight; 128x128: 16 vs 10 images, so looser.
@pytest.mark.parametrize("res, folder, n, k", [(32, "pathfinder32-original-sample", 96, 0.6),
                                               (128, "pathx128-original-sample", 16, 1.0)])
def test_statistics_match_the_original_generator(batch32, res, folder, n, k):
    ours = batch32.images if res == 32 else g.generate(g.params_for(res, "hard"), 0, np.arange(n)).images
    orig = _original(folder)
    if orig is None:
        pytest.skip(f"{SHARED / folder} not available")
    a, o = _per_image(ours), _per_image(orig)
    for name in a:
        spread = o[name].std()
        assert abs(a[name].mean() - o[name].mean()) <= k * spread, (name, a[name].mean(), o[name].mean(), spread)
        # The per-image variety is like the original's too (not one fixed picture, not wilder).
        assert 0.4 * spread <= a[name].std() <= 2.0 * spread, (name, a[name].std(), spread)
    assert (ours.reshape(len(ours), -1).max(axis=1) == 255).all()  # stretched like imsave
    assert ours.dtype == np.uint8 and ours.shape[1:] == (res, res)


def test_few_distractors_fit_at_32_more_at_128(batch32):
    # The original's 32x32 images hold only one or two of their five distractor snakes; 128x128
    # images hold nearly all eight.
    assert 0.7 <= batch32.distractors.mean() <= 2.0
    big = g.generate(g.params_for(128, "hard"), 0, np.arange(4))
    assert big.distractors.mean() >= 6


@pytest.mark.parametrize("res, difficulty", [(64, "hard"), (256, "hard"), (32, "easy"), (128, "intermediate")])
def test_other_resolutions_and_difficulties_are_plausible(res, difficulty):
    p = g.params_for(res, difficulty)
    out = g.generate(p, 1, np.arange(4))
    s = _stats(out.images)
    assert out.images.shape == (4, res, res)
    assert (out.images.reshape(4, -1).max(axis=1) == 255).all()
    assert 0.02 < s["lit"] < 0.5 and 0.005 < s["over128"] < 0.15
    assert np.array_equal(out.labels, g.labels_for(1, p, np.arange(4)))
    assert out.snake_pivots.shape == (4, 2, p.contour_length, 2)
    # Tips lie inside the image.
    assert out.snake_tips.min() >= 0 and out.snake_tips.max() < res
