"""A JAX checkpoint restores parameters, optimizer state and the dropout RNG: resuming is exact."""

from __future__ import annotations

import numpy as np

from lra_core import Batch, EncoderConfig, EncoderInputs, HeadSpec, OptimizerSettings
from lra_jax.backend import JaxBackend
from lra_jax.models.transformer import CARD


def _batch(seed: int) -> Batch:
    rng = np.random.default_rng(seed)
    tokens = rng.integers(2, 17, (4, 10)).astype(np.int32)
    mask = np.arange(10) < rng.integers(5, 11, 4)[:, None]
    return Batch(np.where(mask, tokens, 0).astype(np.int32), mask, rng.integers(0, 3, 4).astype(np.int32))


def test_resume_from_checkpoint_is_exact(tmp_path):
    backend = JaxBackend("cpu")
    # Dropout on: the resumed run must draw the same masks as the uninterrupted one.
    cfg = EncoderConfig(d_model=16, num_heads=2, num_layers=1, mlp_dim=16, qkv_dim=16, dropout=0.2, attention_dropout=0.2)
    inputs = EncoderInputs(vocab_size=17, max_length=10)
    head = HeadSpec(num_classes=3, pooling="mean", pair=False, mlp_dim=16)
    opt = OptimizerSettings(weight_decay=0.1, grad_clip_norm=1.0)
    batches = [_batch(s) for s in range(5)]

    first = backend.build(CARD, cfg, inputs, seed=3, head=head, optimizer=opt)
    for b in batches[:2]:
        first.train_step(b, 1e-2)
    first.save_checkpoint(tmp_path / "ckpt")
    straight = [float(first.train_step(b, 1e-2)) for b in batches[2:]]

    resumed = backend.build(CARD, cfg, inputs, seed=99, head=head, optimizer=opt)
    resumed.load_checkpoint(tmp_path / "ckpt")
    assert resumed.step == 2
    again = [float(resumed.train_step(b, 1e-2)) for b in batches[2:]]
    assert again == straight
    a, b = first.export_params(), resumed.export_params()
    assert all(np.array_equal(a[k], b[k]) for k in a)
    # Dropout really is on: the same batch trains differently at different steps.
    assert float(first.encode(batches[0].tokens, batches[0].mask, train=True, seed=1)[0, 0, 0]) != float(
        first.encode(batches[0].tokens, batches[0].mask, train=True, seed=2)[0, 0, 0]
    )
