"""``lra compare`` logic: torch/transformer vs jax/transformer agree in eval outputs and loss curves."""

from __future__ import annotations

import numpy as np
import pytest

from lra_core import load_registry
from lra_core.compare import (
    NO_DROPOUT,
    Side,
    compare_sides,
    relative_error,
    synthetic_batches,
)
from lra_core.resolve import parse_set
from lra_core.specs import ResolvedTask

pytest.importorskip("lra_torch.backend")


def _task(input_kind: str, pooling: str) -> ResolvedTask:
    return ResolvedTask.model_validate(
        {
            "task": "tiny", "version": 1, "preset": "smoke", "input": input_kind, "num_classes": 4,
            "pooling": pooling, "vocab_size": 19, "pad_id": 0, "cls_id": 1, "max_length": 11,
            "splits": {"train": 64, "validation": 16, "test": 16},
            "encoder": {"d_model": 16, "num_heads": 2, "num_layers": 2, "mlp_dim": 24, "qkv_dim": 16,
                        "dropout": 0.0, "attention_dropout": 0.0, "positional": "sinusoidal"},
            "training": {"batch_size": 8, "num_train_steps": 20, "learning_rate": 2e-3, "warmup_steps": 0,
                         "schedule": "constant", "weight_decay": 0.1},
        }
    )


@pytest.fixture(scope="module")
def registry():
    return load_registry(allow=["jax", "torch"])


def _side(registry, model: str, task: ResolvedTask) -> Side:
    card = registry.model(model)
    config = card.config.model_validate({**task.encoder.model_dump()})
    return Side(card=card, backend=registry.backend(card.framework)(device="cpu"), task=task, config=config)


@pytest.mark.parametrize("input_kind,pooling", [("single", "cls"), ("pair", "mean")])
def test_torch_and_jax_agree(registry, input_kind, pooling):
    task = _task(input_kind, pooling)
    a, b = _side(registry, "torch/transformer", task), _side(registry, "jax/transformer", task)
    batches = synthetic_batches(task, batch_size=8, count=2, seed=1)
    # Two batches repeated: random labels are learnable by heart, so the loss must fall.
    report = compare_sides(
        a, b, eval_batch=batches[0], train_batches=batches * 6, learning_rate=lambda step: 1e-2,
        rtol=1e-5, loss_tol=1e-3,
    )
    assert report.encoder_rel_error < 1e-5 and report.logits_rel_error < 1e-5
    assert report.max_loss_diff < 1e-3
    assert report.losses_a[-1] < report.losses_a[0] - 0.1  # training moved, so the check means something
    assert report.passed
    text = report.format()
    assert "torch/transformer" in text and "jax/transformer" in text and "steps/s" in text
    assert "parity PASSED" in text


def test_relative_error_and_verdicts():
    a = np.array([[1.0, -2.0], [0.5, 4.0]])
    assert relative_error(a, a) == 0.0
    assert relative_error(a, a + np.array([[0.0, 0.0], [0.0, 4e-5]])) == pytest.approx(1e-5)
    with pytest.raises(ValueError):
        relative_error(a, a[:1])


def test_no_dropout_overrides_are_valid_set_keys():
    assert parse_set([f"{k}={v}" for k, v in NO_DROPOUT.items()]) == NO_DROPOUT


@pytest.mark.slow
def test_cli_on_listops_smoke(tmp_path, monkeypatch, capsys):
    """The real command on real task data (generated ListOps at the smoke preset)."""
    from lra_core.cli.main import main

    monkeypatch.setenv("LRA_DATA_DIR", str(tmp_path / "data"))
    code = main(["compare", "torch/transformer", "jax/transformer", "--task", "listops", "--preset", "smoke",
                 "--device", "cpu", "--no-progress", "--json", str(tmp_path / "cmp.json")])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "parity PASSED" in out
    assert (tmp_path / "cmp.json").exists()
