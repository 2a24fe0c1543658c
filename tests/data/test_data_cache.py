"""load_dataset: the Arrow cache, its key, on-demand builds and missing-data messages."""

from __future__ import annotations

from pathlib import Path

import datasets
import numpy as np
import pytest

from lra_core import MissingDataError, Task, UserError
from lra_core.data import (
    Batcher,
    cache_path,
    data_dir,
    is_cached,
    load_dataset,
    make_dataset,
    make_request,
    offsets_from_lengths,
)
from lra_core.specs import parse_task_spec
from lra_task_specs.plugin import builtin_tasks


@pytest.fixture(autouse=True)
def data_home(tmp_path, monkeypatch):
    monkeypatch.setenv("LRA_DATA_DIR", str(tmp_path / "lra-data"))
    return tmp_path / "lra-data"


def tasks() -> dict[str, Task]:
    return {t.id: t for t in builtin_tasks()}


SPEC = {
    "id": "toy", "version": 3, "title": "Toy", "num_classes": 2, "pooling": "mean", "vocab_size": 10,
    "max_length": 8, "sources": ["generated", "official"], "default_source": "generated",
    "splits": {"train": 4, "validation": 2, "test": 2},
    "presets": {"smoke": {"encoder": {"d_model": 4, "num_heads": 1, "num_layers": 1, "mlp_dim": 4, "qkv_dim": 4},
                          "training": {}}},
}


def toy_task(calls: list) -> Task:
    def build(request):
        calls.append(request)
        out = {}
        for s, n in request.task.splits.items():
            rng = np.random.default_rng([request.seed, len(s)])
            lengths = rng.integers(1, 6, n)
            values = rng.integers(0, 10, int(lengths.sum())).astype(np.uint8)
            out[s] = make_dataset({"inputs": (values, offsets_from_lengths(lengths)), "label": np.arange(n) % 2})
        return datasets.DatasetDict(out)

    return Task(spec=parse_task_spec(SPEC), builder=build)


def test_data_dir_honours_the_environment(data_home, monkeypatch):
    assert data_dir() == data_home
    monkeypatch.delenv("LRA_DATA_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", "/somewhere")
    assert data_dir() == Path("/somewhere/lra")


def test_built_once_then_read_from_the_cache(data_home):
    calls: list = []
    task = toy_task(calls)
    req = make_request(task, "smoke", seed=1)
    assert not is_cached(req)
    a = load_dataset(task, req)
    assert len(calls) == 1 and is_cached(req)
    assert cache_path(req).is_relative_to(data_home / "toy")
    b = load_dataset(task, req)
    assert len(calls) == 1  # served from disk
    assert a["train"]["inputs"] == b["train"]["inputs"]
    assert (cache_path(req) / "build.json").is_file()
    # The key changes with the seed, the source, the splits and options.
    for other in (make_request(task, "smoke", seed=2), make_request(task, "smoke", seed=1, options={"x": 1}),
                  make_request(task, "smoke", source="official", seed=1)):
        assert cache_path(other) != cache_path(req)
    load_dataset(task, req, rebuild=True)
    assert len(calls) == 2
    # The cached arrays batch fine (memory-mapped Arrow).
    batch = next(Batcher(b["train"], req.task, 2).eval_batches())
    assert batch.tokens.shape == (2, 8)


def test_not_prepared_names_the_command(data_home):
    task = toy_task([])
    req = make_request(task, "smoke", source="official")
    with pytest.raises(MissingDataError) as e:
        load_dataset(task, req, build_if_missing=False)
    msg = str(e.value)
    assert "'toy'" in msg and "lra data prepare toy --source official --path DIR --preset smoke" in msg


def test_unknown_source_is_a_user_error():
    with pytest.raises(UserError, match="--source: task 'toy' has no source 'hub'"):
        make_request(toy_task([]), "smoke", source="hub")


def test_builder_output_is_checked():
    task = Task(spec=parse_task_spec(SPEC), builder=lambda r: datasets.DatasetDict({"train": make_dataset({"label": np.zeros(1)})}))
    with pytest.raises(TypeError, match="no split"):
        load_dataset(task, make_request(task, "smoke"))


@pytest.mark.parametrize("task_id,files", [
    ("listops", "basic_train.tsv"),
    ("text", "aclImdb"),
    ("retrieval", "new_aan_pairs.train.tsv"),
    ("image", "data_batch_1"),
])
def test_missing_user_files_say_where_and_how(task_id, files, data_home):
    task = tasks()[task_id]
    source = "official" if task_id in ("listops", "retrieval") else "local"
    req = make_request(task, "smoke", source=source)
    with pytest.raises(MissingDataError) as e:
        load_dataset(task, req)
    msg = str(e.value)
    assert f"task {task_id!r}" in msg
    assert str(data_home / "raw" / task_id) in msg
    assert files in msg
    assert f"lra data prepare {task_id} --source {source} --path DIR" in msg


def test_default_sources_never_reach_the_network():
    t = tasks()
    assert t["listops"].spec.default_source == "generated"
    assert t["text"].spec.default_source == "local"
    assert t["retrieval"].spec.default_source == "official"
    assert t["image"].spec.default_source == "local"


def test_specs_carry_presets_reference_and_deviations():
    for task in tasks().values():
        if task.id not in ("listops", "text", "retrieval", "image"):
            continue
        spec = task.spec
        assert {"code", "paper", "smoke"} <= set(spec.presets)
        assert spec.reference["transformer"] > 0 and spec.deviations
        smoke = spec.resolved("smoke")
        assert sum(smoke.splits.values()) <= 1000 and smoke.encoder.d_model <= 32
    assert tasks()["listops"].spec.reference["transformer"] == 36.37
    assert tasks()["image"].spec.resolved("code").training.batch_size == 256
    assert tasks()["text"].spec.resolved("paper").max_length == 4000


def test_listops_generated_smoke_end_to_end():
    task = tasks()["listops"]
    req = make_request(task, "smoke", seed=0)
    dsd = load_dataset(task, req)
    assert {s: len(dsd[s]) for s in dsd} == {"train": 256, "validation": 64, "test": 64}
    lengths = [len(x) for x in dsd["train"]["inputs"]]
    assert max(lengths) < 64 and min(lengths) > 16  # generated short, not truncated
    b = Batcher(dsd["train"], req.task, 16)
    batch = next(b.train_batches(0))
    assert batch.tokens.shape == (16, 65) and (batch.tokens[:, 0] == 17).all()
    # Generated splits are disjoint (unique trees).
    seqs = [tuple(x) for s in ("train", "validation", "test") for x in dsd[s]["inputs"]]
    assert len(set(seqs)) == len(seqs)
