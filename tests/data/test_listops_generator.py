"""ListOps: the generator against LRA's algorithm and the original generator's sample."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from lra_task_specs.listops import generator as g
from lra_task_specs.listops import official

SAMPLE = Path("/work/shared/data/listops-original-sample")
SMOKE = g.GeneratorParams(min_length=16, max_length=64)


def evaluate(source: str) -> tuple[int, int, int]:
    """(value, length, deepest operator nesting) of a parenthesised ListOps source, from scratch."""
    toks = source.replace("(", " ").replace(")", " ").split()
    stack: list[list] = []
    depth = 0
    for t in toks:
        if t.startswith("["):
            stack.append([t])
            depth = max(depth, len(stack))
        elif t == "]":
            op, *args = stack.pop()
            if op == "[MIN":
                v = min(args)
            elif op == "[MAX":
                v = max(args)
            elif op == "[MED":
                v = int(np.median(args))  # even count: mean of the middle two, truncated
            elif op == "[SM":
                v = sum(args) % 10
            else:
                raise AssertionError(op)
            if not stack:
                return v, len(toks), depth
            stack[-1].append(v)
        else:
            if not stack:
                return int(t), 1, 0
            stack[-1].append(int(t))
    raise AssertionError("unterminated")


def sources(trees: g.Trees) -> list[str]:
    return [official.to_source(trees.sequence(i)) for i in range(len(trees))]


def test_labels_lengths_and_depth_match_an_independent_evaluator():
    trees = g.generate(300, seed=3, workers=1, progress=False)
    assert len(trees) == 300
    for i, src in enumerate(sources(trees)):
        value, length, depth = evaluate(src)
        assert value == trees.labels[i]
        assert length == len(trees.sequence(i))
        assert 500 < length < 2000
        assert depth == trees.depths[i] <= 9  # root at depth 1, leaves forced at depth 10


def test_median_of_even_count_truncates_the_mean():
    assert evaluate("( ( ( [MED 3 ) 4 ) ] )")[0] == 3
    # The generator's own evaluation on even-count medians: find some and compare.
    trees = g.generate(400, seed=5, params=SMOKE, workers=1, progress=False)
    even_med = 0
    for i, src in enumerate(sources(trees)):
        assert evaluate(src)[0] == trees.labels[i]
        even_med += src.startswith("( ( ( [MED") or src.startswith("( ( ( ( ( [MED")
    assert even_med > 0


def test_deterministic_and_seed_dependent():
    a = g.generate(200, seed=7, params=SMOKE, workers=1, progress=False)
    b = g.generate(200, seed=7, params=SMOKE, workers=1, progress=False)
    c = g.generate(200, seed=8, params=SMOKE, workers=1, progress=False)
    assert np.array_equal(a.tokens, b.tokens) and np.array_equal(a.labels, b.labels)
    assert not np.array_equal(a.offsets, c.offsets) or not np.array_equal(a.tokens, c.tokens)


def test_same_result_whatever_the_number_of_workers(monkeypatch):
    monkeypatch.setattr(g, "IN_PROCESS_BELOW", 0)
    one = g.generate(1500, seed=1, params=SMOKE, workers=1, progress=False)
    two = g.generate(1500, seed=1, params=SMOKE, workers=2, progress=False)
    assert np.array_equal(one.offsets, two.offsets)
    assert np.array_equal(one.tokens, two.tokens)
    assert np.array_equal(one.labels, two.labels)


def test_unique_and_within_the_length_window():
    trees = g.generate(1000, seed=0, params=SMOKE, workers=1, progress=False)
    seqs = {trees.sequence(i).tobytes() for i in range(len(trees))}
    assert len(seqs) == 1000
    lengths = np.diff(trees.offsets)
    assert lengths.min() > 16 and lengths.max() < 64


def test_tokens_use_the_fixed_vocabulary_and_pipeline():
    src = "( ( ( [MAX 2 ) 9 ) ] )"
    assert official.tokenize(src) == ["[MAX", "2", "9", "X"]
    assert official.encode(src).tolist() == [12, 3, 10, 15]
    assert g.VOCABULARY[0] == "<pad>" and g.VOCABULARY[g.CLS_ID] == "<cls>"


@pytest.mark.skipif(not SAMPLE.is_dir(), reason="original sample not available")
def test_statistics_match_the_original_generator_sample():
    ref = official.read_split(SAMPLE / "basic_train.tsv")
    ours = g.generate(2000, seed=0, workers=1, progress=False)
    ref_len, our_len = np.diff(ref.offsets), np.diff(ours.offsets)
    # Length distribution: deciles agree within sampling noise (n = 2000 each).
    for q in (10, 25, 50, 75, 90):
        a, b = np.percentile(ref_len, q), np.percentile(our_len, q)
        assert abs(a - b) < 0.12 * a, (q, a, b)
    assert abs(ref_len.mean() - our_len.mean()) < 60
    # Label skew: 0 and 9 are the two most frequent labels in both, near 17% / 16%.
    ref_p = np.bincount(ref.labels, minlength=10) / len(ref)
    our_p = np.bincount(ours.labels, minlength=10) / len(ours)
    assert set(np.argsort(our_p)[-2:]) == {0, 9} == set(np.argsort(ref_p)[-2:])
    assert np.abs(ref_p - our_p).max() < 0.035
    # Depth: every kept tree of the sample and ours nests operators 9 deep (the maximum).
    ref_depth = [evaluate(s)[2] for s in sources(ref)[:300]]
    assert max(ref_depth) == ours.depths.max() == 9
    assert abs(np.mean(ref_depth) - ours.depths[:300].mean()) < 0.3
    # Labels of the original file agree with our reader + evaluator.
    assert all(evaluate(s)[0] == y for s, y in zip(sources(ref)[:300], ref.labels[:300]))
