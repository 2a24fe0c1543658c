"""The batcher: explicit masks, CLS, truncation, pair tasks, coverage, seeded order, exact resume."""

from __future__ import annotations

from itertools import islice

import datasets
import numpy as np
import pyarrow as pa
import pytest

from lra_core import Batch
from lra_core.data import Batcher, ListColumn, make_dataset, offsets_from_lengths
from lra_core.errors import UserError
from lra_core.specs import EncoderDims, ResolvedTask, TrainingSettings


def task(pooling="cls", max_length=6, pair=False, num_classes=50):
    return ResolvedTask(
        task="t", version=1, preset="smoke", input="pair" if pair else "single", num_classes=num_classes,
        pooling=pooling, vocab_size=300, pad_id=0, cls_id=299 if pooling == "cls" else None,
        max_length=max_length, splits={"train": 1, "validation": 1, "test": 1},
        encoder=EncoderDims(d_model=8, num_heads=2, num_layers=1, mlp_dim=8, qkv_dim=8),
        training=TrainingSettings(),
    )


def dataset(rows, labels=None, name="inputs"):
    lengths = np.array([len(r) for r in rows])
    values = np.concatenate([np.asarray(r, np.uint16) for r in rows]) if rows else np.zeros(0, np.uint16)
    labels = np.arange(len(rows)) if labels is None else labels
    return make_dataset({name: (values, offsets_from_lengths(lengths)), "label": np.asarray(labels)})


def test_mask_from_lengths_not_token_values_with_cls():
    ds = dataset([[0, 5, 0], [7], [0, 0, 0, 0, 0, 0, 0, 0]])  # zeros are data (black pixels)
    b = Batcher(ds, task("cls", max_length=6), batch_size=3)
    batch = next(b.eval_batches())
    assert isinstance(batch, Batch)
    assert batch.tokens.shape == (3, 7) and batch.tokens.dtype == np.int32 and batch.mask.dtype == np.bool_
    assert batch.tokens[:, 0].tolist() == [299, 299, 299] and batch.mask[:, 0].all()
    assert batch.tokens[0].tolist() == [299, 0, 5, 0, 0, 0, 0]
    assert batch.mask[0].tolist() == [True, True, True, True, False, False, False]
    assert batch.mask[1].tolist() == [True, True, False, False, False, False, False]
    # Truncated to max_length: every position is real.
    assert batch.mask[2].all() and batch.tokens[2, 1:].tolist() == [0] * 6
    assert b.num_truncated == 1
    assert batch.labels.dtype == np.int32 and batch.labels.tolist() == [0, 1, 2]


def test_mean_pooling_has_no_cls():
    b = Batcher(dataset([[3, 4], [5]]), task("mean", max_length=4), batch_size=2)
    batch = next(b.eval_batches())
    assert batch.tokens.tolist() == [[3, 4, 0, 0], [5, 0, 0, 0]]
    assert batch.mask.tolist() == [[True, True, False, False], [True, False, False, False]]


def test_pair_tasks_are_b_2_l():
    lengths = np.array([2, 1])
    ds = make_dataset({
        "inputs1": (np.array([1, 2, 3], np.uint16), offsets_from_lengths(lengths)),
        "inputs2": (np.array([4, 0, 6, 7], np.uint16), offsets_from_lengths(np.array([3, 1]))),
        "label": np.array([1, 0]),
    })
    b = Batcher(ds, task("cls", max_length=3, pair=True), batch_size=2)
    batch = next(b.eval_batches())
    assert batch.tokens.shape == (2, 2, 4) and batch.is_pair
    assert batch.tokens[0].tolist() == [[299, 1, 2, 0], [299, 4, 0, 6]]
    assert batch.mask[0].tolist() == [[True, True, True, False], [True, True, True, True]]
    assert batch.tokens[1].tolist() == [[299, 3, 0, 0], [299, 7, 0, 0]]


def test_eval_covers_every_example_once_in_order():
    n = 37
    b = Batcher(dataset([[i + 1] * (i % 5 + 1) for i in range(n)]), task(), batch_size=8)
    batches = list(b.eval_batches())
    assert [x.size for x in batches] == [8, 8, 8, 8, 5]
    assert np.concatenate([x.labels for x in batches]).tolist() == list(range(n))
    assert [x.size for x in b.eval_batches(max_batches=2)] == [8, 8]
    # Tokens of example i are i + 1 repeated: check the gather put each row in its place.
    for x in batches:
        for row, y in zip(x.tokens, x.labels):
            assert row[1 : 1 + y % 5 + 1].tolist() == [y + 1] * (y % 5 + 1)


def test_train_epochs_are_seeded_permutations_dropping_the_remainder():
    n, bs = 30, 8
    b = Batcher(dataset([[1]] * n), task(), batch_size=bs)
    assert b.batches_per_epoch == 3
    it = b.train_batches(seed=5)
    epoch0 = [next(it).labels for _ in range(3)]
    seen = np.concatenate(epoch0)
    assert len(set(seen.tolist())) == 24  # no repeats inside an epoch, 6 dropped
    expected = np.random.default_rng([5, 0]).permutation(n)[:24]
    assert seen.tolist() == expected.tolist()
    epoch1 = np.concatenate([next(it).labels for _ in range(3)])
    assert epoch1.tolist() == np.random.default_rng([5, 1]).permutation(n)[:24].tolist()
    other = np.concatenate([x.labels for x in islice(b.train_batches(seed=6), 3)])
    assert other.tolist() != seen.tolist()


@pytest.mark.parametrize("start", [0, 1, 3, 7, 10])
def test_resume_yields_exactly_the_uninterrupted_stream(start):
    b = Batcher(dataset([[i % 7 + 1] * (i % 4 + 1) for i in range(29)]), task(), batch_size=4)
    full = list(islice(b.train_batches(seed=11), 14))
    resumed = list(islice(b.train_batches(seed=11, start_step=start), 14 - start))
    for x, y in zip(full[start:], resumed):
        assert np.array_equal(x.tokens, y.tokens) and np.array_equal(x.mask, y.mask)
        assert np.array_equal(x.labels, y.labels)


def test_multi_chunk_columns_and_index_views(monkeypatch):
    monkeypatch.setattr(ListColumn, "COMBINE_BELOW", 0)
    rows = [[i + 1] * (i % 3 + 1) for i in range(20)]
    chunks = [rows[:7], rows[7:15], rows[15:]]
    arrays = []
    for c in chunks:
        offs = offsets_from_lengths(np.array([len(r) for r in c])).astype(np.int32)
        arrays.append(pa.ListArray.from_arrays(pa.array(offs), pa.array(np.concatenate(c).astype(np.uint16))))
    table = pa.table({"inputs": pa.chunked_array(arrays), "label": pa.array(np.arange(20))})
    ds = datasets.Dataset(table)
    b = Batcher(ds, task("mean", max_length=3), batch_size=6)
    assert len(b.columns[0].values) == 3
    got = np.concatenate([x.tokens for x in b.eval_batches()])
    for i, r in enumerate(rows):
        assert got[i, : len(r)].tolist() == r and (got[i, len(r):] == 0).all()
    # A select() view (indices mapping) is read through the mapping.
    view = ds.select([19, 0, 5])
    bv = Batcher(view, task("mean", max_length=3), batch_size=3)
    assert next(bv.eval_batches()).labels.tolist() == [19, 0, 5]


def test_errors_are_user_errors():
    with pytest.raises(UserError, match="fewer than batch_size"):
        next(Batcher(dataset([[1]] * 3), task(), batch_size=4).train_batches(0))
    with pytest.raises(UserError, match="label 7"):
        Batcher(dataset([[1]], labels=[7]), task(num_classes=2), batch_size=1)
    with pytest.raises(UserError, match="lacks column"):
        Batcher(dataset([[1]], name="tokens"), task(), batch_size=1)
