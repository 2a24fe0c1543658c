"""Text (IMDB) and Retrieval (AAN) loaders on small files the tests write; never the network."""

from __future__ import annotations

import json
from pathlib import Path

import datasets
import numpy as np
import pytest

from lra_core import UserError
from lra_core.data import Batcher, load_dataset, make_request
from lra_task_specs.plugin import builtin_tasks


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LRA_DATA_DIR", str(tmp_path / "lra-data"))


def task(name):
    return next(t for t in builtin_tasks() if t.id == name)


def reviews(split: str, n: int) -> tuple[list[str], list[int]]:
    texts = [f"{split} review {i}: caf\u00e9 " + "good " * (i % 7) for i in range(n)]
    return texts, [i % 2 for i in range(n)]


def ids(text: str) -> list[int]:
    return [b + 1 for b in text.encode("utf-8")]


def check_text(dsd, n_train=300, n_test=100):
    assert len(dsd["train"]) == 256 and len(dsd["test"]) == 64
    # LRA: validation is the test set (the same rows).
    assert dsd["validation"]["inputs"] == dsd["test"]["inputs"]
    tr_texts, tr_labels = reviews("train", n_train)
    by_ids = {tuple(ids(t)): y for t, y in zip(tr_texts, tr_labels)}
    for x, y in zip(dsd["train"]["inputs"], dsd["train"]["label"]):
        assert by_ids[tuple(x)] == y  # byte + 1, full review, right label
    assert max(max(x) for x in dsd["train"]["inputs"]) <= 256


def test_saved_hf_dataset(tmp_path):
    folder = tmp_path / "imdb-saved"
    dd = datasets.DatasetDict({s: datasets.Dataset.from_dict(dict(zip(("text", "label"), reviews(s, n))))
                               for s, n in (("train", 300), ("test", 100))})
    dd.save_to_disk(str(folder))
    t = task("text")
    dsd = load_dataset(t, make_request(t, "smoke", source="local", path=folder))
    check_text(dsd)
    batch = next(Batcher(dsd["train"], make_request(t, "smoke").task, 8).eval_batches())
    assert batch.tokens.shape == (8, 129) and (batch.tokens[:, 0] == 257).all()


@pytest.mark.parametrize("ext", ["parquet", "jsonl", "csv"])
def test_table_files(tmp_path, ext):
    import pyarrow as pa
    import pyarrow.csv as pc
    import pyarrow.parquet as pq

    folder = tmp_path / f"imdb-{ext}"
    folder.mkdir()
    for s, n in (("train", 300), ("test", 100)):
        texts, labels = reviews(s, n)
        if ext == "jsonl":
            (folder / "train.jsonl" if s == "train" else folder / "test.jsonl").write_text(
                "".join(json.dumps({"text": a, "label": b}) + "\n" for a, b in zip(texts, labels)), encoding="utf-8")
        elif ext == "parquet":
            pq.write_table(pa.table({"text": texts, "label": labels}), folder / f"{s}.parquet")
        else:
            pc.write_csv(pa.table({"text": texts, "label": labels}), folder / f"{s}.csv")
    t = task("text")
    check_text(load_dataset(t, make_request(t, "smoke", source="local", path=folder)))


def test_aclimdb_layout_and_holdout(tmp_path):
    root = tmp_path / "dl" / "aclImdb"
    for s, n in (("train", 300), ("test", 100)):
        texts, labels = reviews(s, n)
        for i, (x, y) in enumerate(zip(texts, labels)):
            d = root / s / ("pos" if y else "neg")
            d.mkdir(parents=True, exist_ok=True)
            (d / f"{i}_{7 if y else 2}.txt").write_text(x, encoding="utf-8")
    t = task("text")
    check_text(load_dataset(t, make_request(t, "smoke", source="local", path=tmp_path / "dl")))
    held = load_dataset(t, make_request(t, "smoke", source="local", path=root, options={"holdout": 0.2}))
    assert len(held["validation"]) == 60 and len(held["train"]) == 240
    train_set = set(map(tuple, held["train"]["inputs"]))
    assert not train_set & set(map(tuple, held["validation"]["inputs"]))
    with pytest.raises(UserError, match="holdout"):
        load_dataset(t, make_request(t, "smoke", source="local", path=root, options={"holdout": 2}))


def test_bad_labels_name_the_file(tmp_path):
    folder = tmp_path / "bad"
    folder.mkdir()
    for s in ("train", "test"):
        (folder / f"{s}.jsonl").write_text('{"text": "a", "label": 1}\n{"text": "b", "label": "maybe"}\n')
    t = task("text")
    with pytest.raises(UserError, match=r"train.jsonl: row 2: label 'maybe'"):
        load_dataset(t, make_request(t, "smoke", source="local", path=folder))


def test_hf_source_uses_the_hub_name(monkeypatch):
    asked = []

    def fake_load_dataset(name, *a, **k):
        asked.append(name)
        return datasets.DatasetDict({s: datasets.Dataset.from_dict(dict(zip(("text", "label"), reviews(s, n))))
                                     for s, n in (("train", 300), ("test", 100), ("unsupervised", 5))})

    monkeypatch.setattr(datasets, "load_dataset", fake_load_dataset)
    t = task("text")
    check_text(load_dataset(t, make_request(t, "smoke", source="hf")))
    assert asked == ["stanfordnlp/imdb"]


# ---- retrieval -------------------------------------------------------------------------------------
def aan_rows(split: str, n: int) -> list[str]:
    rows = []
    for i in range(n):
        t1 = f"{split} paper {i} \"quoted\" " + "x" * (i * 3)
        t2 = f"cited {i} " + "y" * 90
        rows.append(f"{float(i % 2)}\t{split}-{i}a\t{split}-{i}b\t{t1}\t{t2}")
    return rows


def write_aan(folder: Path, n: int = 40, extra: dict[str, list[str]] | None = None) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for s in ("train", "eval", "test"):
        rows = (extra or {}).get(s, aan_rows(s, n))
        (folder / f"new_aan_pairs.{s}.tsv").write_text("\n".join(rows) + "\n", encoding="utf-8")


def test_aan_official_release(tmp_path):
    write_aan(tmp_path / "lra_release" / "tsv_data")
    t = task("retrieval")
    dsd = load_dataset(t, make_request(t, "smoke", path=tmp_path / "lra_release"))
    assert [len(dsd[s]) for s in ("train", "validation", "test")] == [40, 40, 40]  # fewer rows than the preset
    row = dsd["train"][5]
    assert row["label"] == 1 and row["id1"] == "train-5a"
    assert row["inputs1"] == ids(("train paper 5 \"quoted\" " + "x" * 15)[:64])  # cut to max_length 64
    assert row["inputs2"] == ids(("cited 5 " + "y" * 90)[:64])
    b = Batcher(dsd["validation"], make_request(t, "smoke").task, 8)
    batch = next(b.eval_batches())
    assert batch.tokens.shape == (8, 2, 65) and batch.mask[:, :, 0].all()


def test_aan_subset_and_corrupt_rows(tmp_path):
    t = task("retrieval")
    write_aan(tmp_path / "big", n=300)
    dsd = load_dataset(t, make_request(t, "smoke", path=tmp_path / "big", seed=3))
    assert len(dsd["train"]) == 256 and len(dsd["test"]) == 64
    again = load_dataset(t, make_request(t, "smoke", path=tmp_path / "big", seed=3), rebuild=True)
    assert again["test"]["id1"] == dsd["test"]["id1"]
    rows = aan_rows("eval", 5)
    rows[3] = rows[3].rsplit("\t", 1)[0]  # a truncated line
    write_aan(tmp_path / "bad", extra={"eval": rows})
    with pytest.raises(UserError, match=r"new_aan_pairs.eval.tsv: row 4: expected 5 tab-separated fields, got 4"):
        load_dataset(t, make_request(t, "smoke", path=tmp_path / "bad"))
