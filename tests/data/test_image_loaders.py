"""Image (CIFAR-10 grayscale): TF's rgb_to_grayscale, the pickle and HF loaders, LRA's slicing, render."""

from __future__ import annotations

import pickle
from pathlib import Path

import datasets
import numpy as np
import pytest
from PIL import Image

from lra_core import UserError
from lra_core.data import Batcher, load_dataset, make_request
from lra_task_specs.image.grayscale import rgb_to_grayscale
from lra_task_specs.plugin import builtin_tasks


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LRA_DATA_DIR", str(tmp_path / "lra-data"))


def image_task():
    return next(t for t in builtin_tasks() if t.id == "image")


def test_grayscale_truncates_like_tensorflow():
    px = np.array([[255, 255, 255], [255, 0, 0], [0, 255, 0], [0, 0, 255], [1, 1, 1], [128, 128, 128], [0, 0, 0]],
                  np.uint8)
    # float32: x/255 * w summed, * 255.5, truncated. Pure green gives 149.97 -> 149 (rounding would say
    # 150, and PIL's convert("L") says 150): the truncation is TF's.
    assert rgb_to_grayscale(px).tolist() == [255, 76, 149, 29, 1, 128, 0]
    pil = np.asarray(Image.fromarray(px[None, :, :]).convert("L"))[0]
    assert pil[2] == 150
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (1000, 3)).astype(np.uint8)
    exact = (rgb.astype(np.float64) / 255 @ np.array([0.2989, 0.5870, 0.1140])) * 255.5
    assert np.abs(rgb_to_grayscale(rgb).astype(np.float64) - np.floor(exact)).max() <= 1


def cifar_images(n: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    return rng.integers(0, 256, (n, 32, 32, 3)).astype(np.uint8), rng.integers(0, 10, n)


def write_pickles(folder: Path, per_batch: int = 20) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    folder.mkdir(parents=True)
    train, train_y = cifar_images(5 * per_batch, 1)
    test, test_y = cifar_images(per_batch, 2)
    chunks = [(f"data_batch_{i + 1}", train[i * per_batch:(i + 1) * per_batch], train_y[i * per_batch:(i + 1) * per_batch])
              for i in range(5)] + [("test_batch", test, test_y)]
    for name, imgs, ys in chunks:
        planar = imgs.transpose(0, 3, 1, 2).reshape(len(imgs), 3072)  # R plane, G plane, B plane
        with open(folder / name, "wb") as f:
            pickle.dump({b"data": planar, b"labels": [int(y) for y in ys]}, f)
    return train, train_y, test, test_y


def test_cifar_pickles_lra_slicing_and_mask(tmp_path):
    train, train_y, test, test_y = write_pickles(tmp_path / "cifar-10-batches-py")
    t = image_task()
    req = make_request(t, "smoke", path=tmp_path)
    dsd = load_dataset(t, req)
    assert [len(dsd[s]) for s in ("train", "validation", "test")] == [90, 10, 20]  # train[:90%], train[90%:]
    gray = rgb_to_grayscale(train).reshape(100, 1024)
    assert dsd["train"]["inputs"][0] == gray[0].tolist()
    assert dsd["validation"]["inputs"][0] == gray[90].tolist() and dsd["validation"]["label"][0] == train_y[90]
    assert dsd["test"]["inputs"][-1] == rgb_to_grayscale(test[-1]).reshape(-1).tolist()
    # Black pixels are data: the mask is all True (plus CLS).
    b = Batcher(dsd["test"], req.task, 7)
    batch = next(b.eval_batches())
    assert batch.tokens.shape == (7, 1025) and batch.mask.all()
    assert (batch.tokens[:, 1:] == 0).sum() == (rgb_to_grayscale(test[:7]) == 0).sum()


def test_truncated_pickle_names_the_file(tmp_path):
    write_pickles(tmp_path / "c")
    data = (tmp_path / "c" / "data_batch_3").read_bytes()
    (tmp_path / "c" / "data_batch_3").write_bytes(data[: len(data) // 2])
    t = image_task()
    with pytest.raises(UserError, match="data_batch_3: not a CIFAR-10 python batch"):
        load_dataset(t, make_request(t, "smoke", path=tmp_path / "c"))


def hf_cifar() -> datasets.DatasetDict:
    out = {}
    for s, n, seed in (("train", 50, 3), ("test", 12, 4)):
        imgs, ys = cifar_images(n, seed)
        out[s] = datasets.Dataset.from_dict(
            {"img": [Image.fromarray(a) for a in imgs], "label": ys.tolist()},
            features=datasets.Features({"img": datasets.Image(), "label": datasets.ClassLabel(num_classes=10)}),
        )
    return datasets.DatasetDict(out)


def test_hf_and_saved_hf(tmp_path, monkeypatch):
    asked = []
    monkeypatch.setattr(datasets, "load_dataset", lambda name, *a, **k: asked.append(name) or hf_cifar())
    t = image_task()
    via_hub = load_dataset(t, make_request(t, "smoke", source="hf"))
    assert asked == ["uoft-cs/cifar10"]
    imgs, ys = cifar_images(50, 3)
    assert [len(via_hub[s]) for s in ("train", "validation", "test")] == [45, 5, 12]
    assert via_hub["validation"]["inputs"][1] == rgb_to_grayscale(imgs[46]).reshape(-1).tolist()
    hf_cifar().save_to_disk(str(tmp_path / "saved"))
    local = load_dataset(t, make_request(t, "smoke", source="local", path=tmp_path / "saved"))
    for s in ("train", "validation", "test"):
        assert local[s]["inputs"] == via_hub[s]["inputs"] and local[s]["label"] == via_hub[s]["label"]


def test_render_png_round_trip(tmp_path):
    t = image_task()
    pixels = np.arange(1024) % 256
    out = t.render({"inputs": pixels.tolist(), "label": 3}, tmp_path / "x.png")
    assert out == str(tmp_path / "x.png")
    back = np.asarray(Image.open(out))
    assert back.shape == (32, 32) and back.reshape(-1).tolist() == pixels.tolist()
    text = t.render({"inputs": pixels.tolist(), "label": 3}, None)
    assert text.startswith("label: 3") and len(text.splitlines()) >= 33
