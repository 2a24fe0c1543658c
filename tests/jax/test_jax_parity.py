"""The Flax reference Transformer and heads against the torch reference: same names, same outputs,
same optimizer steps (LRA's Adam with decoupled decay on every parameter, global-norm clipping)."""

from __future__ import annotations

import numpy as np
import pytest

from lra_core import Batch, EncoderConfig, EncoderInputs, HeadSpec, OptimizerSettings
from lra_core.compare import relative_error

torch_backend = pytest.importorskip("lra_torch.backend")
from lra_jax.backend import JaxBackend  # noqa: E402
from lra_jax.models.transformer import CARD as JAX_CARD  # noqa: E402
from lra_torch.models.transformer import CARD as TORCH_CARD  # noqa: E402

VOCAB, LENGTH = 23, 12


def _config(positional: str, dropout: float = 0.0) -> EncoderConfig:
    return EncoderConfig(
        d_model=16, num_heads=2, num_layers=2, mlp_dim=24, qkv_dim=16,
        positional=positional, dropout=dropout, attention_dropout=dropout,
    )


def _batch(pair: bool, seed: int = 0, batch: int = 4) -> Batch:
    rng = np.random.default_rng(seed)
    shape = (batch, 2, LENGTH) if pair else (batch, LENGTH)
    tokens = rng.integers(2, VOCAB, shape).astype(np.int32)
    lengths = rng.integers(4, LENGTH + 1, shape[:-1])
    mask = np.arange(LENGTH) < lengths[..., None]
    tokens = np.where(mask, tokens, 0).astype(np.int32)
    tokens[..., 0] = 1  # CLS
    return Batch(tokens, mask, rng.integers(0, 5, batch).astype(np.int32))


@pytest.fixture(scope="module")
def backends():
    return torch_backend.TorchBackend("cpu"), JaxBackend("cpu")


CASES = [
    ("learned", "cls", False),
    ("sinusoidal", "mean", False),
    ("sinusoidal", "cls", True),
    ("none", "mean", True),
]


@pytest.mark.parametrize("positional,pooling,pair", CASES)
def test_same_names_and_outputs(backends, positional, pooling, pair):
    tb, jb = backends
    cfg, inputs = _config(positional), EncoderInputs(vocab_size=VOCAB, max_length=LENGTH)
    head = HeadSpec(num_classes=5, pooling=pooling, pair=pair, mlp_dim=24)
    th = tb.build(TORCH_CARD, cfg, inputs, seed=0, head=head)
    jh = jb.build(JAX_CARD, cfg, inputs, seed=0, head=head)
    tp, jp = th.export_params(), jh.export_params()
    assert sorted(tp) == sorted(jp)
    assert {k: v.shape for k, v in tp.items()} == {k: v.shape for k, v in jp.items()}
    assert relative_error(tp["encoder.embeddings.embed.weight"], jp["encoder.embeddings.embed.weight"]) > 0.1

    jh.import_params(tp)
    assert all(np.array_equal(v, jh.export_params()[k]) for k, v in tp.items())
    batch = _batch(pair)
    assert relative_error(th.encode(batch.tokens, batch.mask), jh.encode(batch.tokens, batch.mask)) < 1e-5
    assert relative_error(th.eval_step(batch), jh.eval_step(batch)) < 1e-5
    if (positional, pooling, pair) != CASES[0]:
        return  # gradients once: every compile costs seconds on a shared CPU
    tg, jg = th.encoder_gradients(batch.tokens, batch.mask), jh.encoder_gradients(batch.tokens, batch.mask)
    assert sorted(tg) == sorted(jg)
    # Relative to the largest gradient: with a final LayerNorm most of these are ~0 in both.
    scale = max(np.abs(g).max() for g in tg.values())
    assert max(np.abs(tg[k] - jg[k]).max() for k in tg) < 1e-5 * scale


def test_optimizer_steps_match_torch_adamw(backends):
    """Decoupled decay on all params and global-norm clipping (0.05 always clips here)."""
    clip = 0.05
    tb, jb = backends
    cfg, inputs = _config("learned"), EncoderInputs(vocab_size=VOCAB, max_length=LENGTH)
    head = HeadSpec(num_classes=5, pooling="cls", pair=False, mlp_dim=24)
    opt = OptimizerSettings(weight_decay=0.1, grad_clip_norm=clip)
    th = tb.build(TORCH_CARD, cfg, inputs, seed=1, head=head, optimizer=opt)
    jh = jb.build(JAX_CARD, cfg, inputs, seed=1, head=head, optimizer=opt)
    start = th.export_params()
    jh.import_params(start)
    for step in range(4):
        batch = _batch(False, seed=10 + step)
        lt, lj = float(th.train_step(batch, 3e-3)), float(jh.train_step(batch, 3e-3))
        assert abs(lt - lj) < 1e-5
    tp, jp = th.export_params(), jh.export_params()
    moved = max(relative_error(start[k], tp[k]) for k in tp)
    assert moved > 1e-3  # the steps did change the parameters
    assert max(relative_error(tp[k], jp[k]) for k in tp) < 1e-4

