"""Task heads on known inputs: pooling, LRA's MLP classifier, the two-tower pair head."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from lra_core import Batch, EncoderConfig, EncoderInputs, HeadSpec, ModelCard
from lra_torch.backend import TorchBackend
from lra_torch.heads import Classifier, pair_features, pool


class EmbeddingEncoder(nn.Module):
    """A tiny encoder whose output is known by hand: the token's embedding row."""

    def __init__(self, config: EncoderConfig, inputs: EncoderInputs) -> None:
        super().__init__()
        self.embed = nn.Embedding(inputs.vocab_size, config.d_model)

    def forward(self, tokens: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.embed(tokens)


TINY_CARD = ModelCard(name="embedding-only", framework="torch", factory=EmbeddingEncoder)
CONFIG = EncoderConfig(d_model=4, num_heads=1, num_layers=1, mlp_dim=6, qkv_dim=4)
INPUTS = EncoderInputs(vocab_size=11, max_length=5)


def _relu(x: np.ndarray) -> np.ndarray:
    return np.maximum(x, 0.0)


def test_mean_pooling_ignores_padded_positions() -> None:
    x = torch.randn(2, 5, 3)
    mask = torch.tensor([[True, True, True, False, False], [True, False, False, False, False]])
    x[~mask] = 1e6  # anything at padded positions must not leak into the mean
    pooled = pool(x, mask, "mean")
    torch.testing.assert_close(pooled[0], x[0, :3].mean(0))
    torch.testing.assert_close(pooled[1], x[1, 0])


def test_mean_pooling_of_an_empty_row_is_zero_not_nan() -> None:
    pooled = pool(torch.ones(1, 3, 2), torch.zeros(1, 3, dtype=torch.bool), "mean")
    assert torch.equal(pooled, torch.zeros(1, 2))


def test_cls_pooling_takes_position_zero() -> None:
    x = torch.randn(3, 4, 2)
    mask = torch.ones(3, 4, dtype=torch.bool)
    assert torch.equal(pool(x, mask, "cls"), x[:, 0])


def test_pair_features_order() -> None:
    u, v = torch.tensor([[1.0, 2.0]]), torch.tensor([[3.0, 5.0]])
    assert pair_features(u, v).tolist() == [[1.0, 2.0, 3.0, 5.0, 3.0, 10.0, -2.0, -3.0]]


def test_classifier_has_canonical_names_and_lra_mlp_shapes() -> None:
    model = Classifier(EmbeddingEncoder(CONFIG, INPUTS), HeadSpec(3, "mean", True, 6), CONFIG.d_model)
    shapes = {n: tuple(p.shape) for n, p in model.named_parameters()}
    assert shapes == {
        "encoder.embed.weight": (11, 4),
        "head.hidden.weight": (6, 16),  # [u, v, u*v, u-v] -> mlp_dim
        "head.hidden.bias": (6,),
        "head.logits.weight": (3, 6),
        "head.logits.bias": (3,),
    }


@pytest.mark.parametrize("pooling", ["mean", "cls"])
def test_two_tower_head_by_hand(pooling: str) -> None:
    """Backend eval on a pair batch equals [u, v, u*v, u-v] -> Dense -> ReLU -> Dense in NumPy."""
    handle = TorchBackend("cpu").build(
        TINY_CARD, CONFIG, INPUTS, seed=3, head=HeadSpec(3, pooling, True, 6)
    )
    p = handle.export_params()
    tokens = np.array([[[1, 2, 3, 0, 0], [4, 5, 0, 0, 0]], [[6, 0, 0, 0, 0], [7, 8, 9, 10, 1]]], np.int32)
    mask = tokens > 0
    logits = handle.eval_step(Batch(tokens, mask, np.zeros(2, np.int32)))

    emb = p["encoder.embed.weight"]
    expected = []
    for b in range(2):
        towers = []
        for doc in range(2):
            rows = emb[tokens[b, doc]]
            towers.append(rows[0] if pooling == "cls" else rows[mask[b, doc]].mean(0))
        u, v = towers
        f = np.concatenate([u, v, u * v, u - v])
        h = _relu(p["head.hidden.weight"] @ f + p["head.hidden.bias"])
        expected.append(p["head.logits.weight"] @ h + p["head.logits.bias"])
    np.testing.assert_allclose(logits, np.stack(expected), rtol=1e-5, atol=1e-6)
    assert logits.dtype == np.float32


def test_single_head_by_hand() -> None:
    handle = TorchBackend("cpu").build(TINY_CARD, CONFIG, INPUTS, seed=0, head=HeadSpec(2, "mean", False, 6))
    p = handle.export_params()
    tokens = np.array([[3, 4, 0, 0, 0]], np.int32)
    logits = handle.eval_step(Batch(tokens, tokens > 0, np.zeros(1, np.int32)))
    f = p["encoder.embed.weight"][[3, 4]].mean(0)
    h = _relu(p["head.hidden.weight"] @ f + p["head.hidden.bias"])
    np.testing.assert_allclose(logits[0], p["head.logits.weight"] @ h + p["head.logits.bias"], rtol=1e-5, atol=1e-6)


def test_transformer_mean_head_ignores_padding_tokens() -> None:
    """Through the real Transformer: what sits at padded positions cannot change the logits."""
    from lra_torch.models.transformer import CARD

    handle = TorchBackend("cpu").build(CARD, CONFIG, INPUTS, seed=0, head=HeadSpec(3, "mean", False, 6))
    tokens = np.array([[1, 2, 3, 0, 0], [4, 5, 6, 7, 0]], np.int32)
    mask = np.array([[1, 1, 1, 0, 0], [1, 1, 1, 1, 0]], bool)
    other = tokens.copy()
    other[~mask] = 9
    labels = np.zeros(2, np.int32)
    a = handle.eval_step(Batch(tokens, mask, labels))
    b = handle.eval_step(Batch(other, mask, labels))
    np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-6)
    # ... while a real token does.
    other[0, 0] = 9
    assert not np.allclose(a[0], handle.eval_step(Batch(other, mask, labels))[0], atol=1e-4)
