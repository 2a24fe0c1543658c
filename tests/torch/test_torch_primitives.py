"""Backend primitives the conformance suite and profiler use: encode, gradients, FLOPs, memory."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lra_core import Batch, EncoderConfig, EncoderInputs, HeadSpec, ModelCard
from lra_torch.backend import TorchBackend
from lra_torch.memory import PeakMemory
from lra_torch.models.transformer import CARD

CONFIG = EncoderConfig(d_model=8, num_heads=2, num_layers=2, mlp_dim=16, qkv_dim=8)
INPUTS = EncoderInputs(vocab_size=10, max_length=12)


def tokens_and_mask() -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    tokens = rng.integers(1, 10, (3, 12)).astype(np.int32)
    mask = np.arange(12) < np.array([12, 7, 4])[:, None]
    tokens[~mask] = 0
    return tokens, mask


class Embed(nn.Module):
    def __init__(self, config: EncoderConfig, inputs: EncoderInputs) -> None:
        super().__init__()
        self.embed = nn.Embedding(inputs.vocab_size, config.d_model)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.embed(tokens)


class Mutating(Embed):
    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        mask.fill_(True)  # a contract violation: the encoder writes into its inputs
        return self.embed(tokens)


def test_encode_shape_dropout_seed_and_rng_isolation() -> None:
    handle = TorchBackend("cpu").build(CARD, CONFIG, INPUTS, seed=0)
    tokens, mask = tokens_and_mask()
    state = torch.get_rng_state()
    ev = handle.encode(tokens, mask)
    assert ev.shape == (3, 12, 8) and ev.dtype == np.float32
    np.testing.assert_array_equal(ev, handle.encode(tokens, mask))
    t1, t1b, t2 = (handle.encode(tokens, mask, train=True, seed=s) for s in (1, 1, 2))
    np.testing.assert_array_equal(t1, t1b)
    assert not np.array_equal(t1, t2) and not np.array_equal(t1, ev)
    assert torch.equal(state, torch.get_rng_state())  # the training stream did not move


def test_encoder_gradients_by_hand() -> None:
    """For output = embedding rows, d sum(mean-pool)/dE[v] = sum_b count_b(v) / n_real_b."""
    card = ModelCard(name="embed", framework="torch", factory=Embed)
    handle = TorchBackend("cpu").build(card, CONFIG, INPUTS, seed=0)
    tokens, mask = tokens_and_mask()
    grads = handle.encoder_gradients(tokens, mask)
    assert set(grads) == {"encoder.embed.weight"}
    expected = np.zeros((10, 8))
    for b in range(3):
        for v in tokens[b][mask[b]]:
            expected[v] += 1.0 / mask[b].sum()
    np.testing.assert_allclose(grads["encoder.embed.weight"], expected, rtol=1e-6)


def test_encoder_gradients_cover_every_transformer_param() -> None:
    handle = TorchBackend("cpu").build(CARD, CONFIG, INPUTS, seed=0, head=HeadSpec(2, "mean", False, 4))
    grads = handle.encoder_gradients(*tokens_and_mask())
    params = handle.export_params()
    assert set(grads) == {k for k in params if k.startswith("encoder.")}
    assert all(grads[k].shape == params[k].shape for k in grads)
    assert all(p.grad is None for p in handle.model.parameters())  # .grad left alone


def test_encode_preserves_inputs() -> None:
    tokens, mask = tokens_and_mask()
    assert TorchBackend("cpu").build(CARD, CONFIG, INPUTS, seed=0).encode_preserves_inputs(tokens, mask)
    bad = ModelCard(name="mutating", framework="torch", factory=Mutating)
    assert not TorchBackend("cpu").build(bad, CONFIG, INPUTS, seed=0).encode_preserves_inputs(tokens, mask)


def test_count_flops_matches_the_analytic_formula() -> None:
    handle = TorchBackend("cpu").build(CARD, CONFIG, INPUTS, seed=0, head=HeadSpec(2, "cls", False, 4))
    tokens, mask = tokens_and_mask()
    state = torch.get_rng_state()
    forward = handle.count_flops(tokens, mask)
    assert forward == CARD.flops(CONFIG, 3, 12)  # attention included (math SDPA is counted)
    step = handle.count_flops(tokens, mask, train_step=True)
    assert step is not None and step > 2.5 * forward  # backward ~ 2x forward, plus the head
    assert torch.equal(state, torch.get_rng_state())
    assert all(p.grad is None for p in handle.model.parameters())


def test_cpu_peak_memory_sees_a_large_allocation() -> None:
    memory = PeakMemory(torch.device("cpu"))
    memory.reset()
    block = torch.ones(64 * 2**20 // 4)  # 64 MiB, touched
    peak = memory.peak_bytes()
    del block
    assert peak is not None and peak >= 60 * 2**20
    memory.reset()
    small = memory.peak_bytes()
    # With /proc/self/clear_refs the high-water mark restarts: the old 64 MiB is not reported again.
    if small is not None:
        assert small < 32 * 2**20


def test_backend_peak_memory_during_a_step() -> None:
    backend = TorchBackend("cpu")
    handle = backend.build(CARD, CONFIG, INPUTS, seed=0, head=HeadSpec(2, "cls", False, 4))
    tokens, mask = tokens_and_mask()
    backend.reset_peak_memory()
    handle.train_step(Batch(tokens, mask, np.zeros(3, np.int32)), 1e-3)
    backend.sync()
    peak = backend.peak_memory_bytes()
    assert peak is None or peak >= 0


@pytest.mark.slow
def test_compiled_model_matches_eager() -> None:
    tokens, mask = tokens_and_mask()
    b = Batch(tokens, mask, np.array([0, 1, 0], np.int32))
    head = HeadSpec(2, "mean", False, 4)
    eager = TorchBackend("cpu").build(CARD, CONFIG, INPUTS, seed=0, head=head)
    compiled = TorchBackend("cpu", compile=True).build(CARD, CONFIG, INPUTS, seed=0, head=head)
    np.testing.assert_allclose(compiled.eval_step(b), eager.eval_step(b), rtol=1e-4, atol=1e-5)
    assert np.isfinite(float(compiled.train_step(b, 1e-3)))
