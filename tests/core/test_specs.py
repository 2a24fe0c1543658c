"""Spec schemas are strict, and errors name the file, the field path and the reason."""

from __future__ import annotations

import copy

import pytest

from lra_core import EncoderConfig, ModelCard, UserError, load_task_spec
from lra_core.cards import Capabilities
from lra_core.resolve import parse_set, resolve
from lra_core.specs import parse_task_spec
from lra_core.tasks import Task

VALID = {
    "id": "toy",
    "version": 1,
    "title": "Toy",
    "num_classes": 2,
    "pooling": "cls",
    "vocab_size": 10,
    "cls_id": 9,
    "max_length": 16,
    "sources": ["generated"],
    "default_source": "generated",
    "splits": {"train": 8, "validation": 4, "test": 4},
    "presets": {
        "smoke": {
            "encoder": {"d_model": 8, "num_heads": 2, "num_layers": 1, "mlp_dim": 16, "qkv_dim": 8},
            "training": {"batch_size": 2, "num_train_steps": 3, "warmup_steps": 1},
        }
    },
}


def write_toml(path, text):
    path.write_text(text)
    return path


def test_valid_spec_round_trips():
    spec = parse_task_spec(copy.deepcopy(VALID))
    r = spec.resolved("smoke")
    assert r.model_length == 17  # CLS prepended
    assert r.training.beta2 == 0.98 and r.training.eps == 1e-9
    assert len(r.spec_hash()) == 16


@pytest.mark.parametrize(
    "mutate, field, reason",
    [
        (lambda d: d["presets"]["smoke"]["training"].update(learning_rat=0.1), "presets.smoke.training.learning_rat", "Extra inputs"),
        (lambda d: d.update(pooling="max"), "pooling", "Input should be 'cls' or 'mean'"),
        (lambda d: d.update(cls_id=None), "(top level)", "cls_id is required"),
        (lambda d: d.update(default_source="hf"), "(top level)", "default_source 'hf' is not in sources"),
        (lambda d: d["presets"]["smoke"]["training"].update(schedule="constant*warmup"), "presets.smoke.training", "unknown factor"),
        (lambda d: d["presets"].update(code=d["presets"].pop("smoke")), "(top level)", "smoke preset"),
    ],
)
def test_bad_spec_names_field_and_reason(mutate, field, reason):
    raw = copy.deepcopy(VALID)
    mutate(raw)
    with pytest.raises(UserError) as exc:
        parse_task_spec(raw, where="task_specs/toy/spec.toml")
    msg = str(exc.value)
    assert msg.startswith(f"task_specs/toy/spec.toml: field {field}:"), msg
    assert reason in msg
    assert "\n" not in msg


def test_toml_syntax_error_names_the_file(tmp_path):
    path = write_toml(tmp_path / "spec.toml", "id = 'x'\nversion = \n")
    with pytest.raises(UserError, match=r"spec.toml: invalid TOML"):
        load_task_spec(path)


def test_encoder_config_rejects_unknown_keys_and_subclasses_extend():
    class Cfg(EncoderConfig):
        block_size: int = 50

    assert Cfg(block_size=64).block_size == 64
    with pytest.raises(ValueError, match="Extra inputs"):
        Cfg(blok_size=64)
    with pytest.raises(ValueError, match="divisible by num_heads"):
        EncoderConfig(num_heads=3, qkv_dim=32)


def test_card_validation():
    with pytest.raises(ValueError, match="slug"):
        ModelCard(name="Bad Name", framework="torch", factory=lambda c, i: None)
    with pytest.raises(ValueError, match="unknown complexity"):
        Capabilities(complexity="cubic")
    with pytest.raises(ValueError, match="subclass of EncoderConfig"):
        ModelCard(name="x", framework="torch", factory=lambda c, i: None, config=dict)


def _task() -> Task:
    return Task(spec=parse_task_spec(copy.deepcopy(VALID)), builder=lambda req: None)


def test_resolve_layers_preset_card_overrides_and_set():
    class Cfg(EncoderConfig):
        block_size: int = 50

    card = ModelCard(
        name="blocky", framework="torch", factory=lambda c, i: None, config=Cfg,
        task_overrides={"toy": {"model.block_size": 4, "pooling": "mean"}, "toy@smoke": {"model.num_layers": 2}},
    )
    task, cfg = resolve(card, _task(), "smoke", parse_set(["training.learning_rate=0.5", "model.d_model=16", "model.qkv_dim=16"]))
    assert (cfg.block_size, cfg.num_layers, cfg.d_model) == (4, 2, 16)
    assert task.pooling == "mean" and task.training.learning_rate == 0.5


@pytest.mark.parametrize(
    "item, match",
    [
        ("learning_rate", "expected KEY=VALUE"),
        ("optimizer.lr=1", "unknown key 'optimizer.lr'"),
        ("training.lr=1", "unknown key 'training.lr'"),
        ("model.d_modle=4", r"model config of torch/plain \(model.<field>\): field d_modle"),
        ("training.batch_size=0", "field training.batch_size"),
    ],
)
def test_bad_set_overrides_are_named(item, match):
    card = ModelCard(name="plain", framework="torch", factory=lambda c, i: None)
    with pytest.raises(UserError, match=match):
        resolve(card, _task(), "smoke", parse_set([item]))


def test_unknown_preset_lists_choices():
    with pytest.raises(UserError, match=r"--preset: task 'toy' has no preset 'paper'; choose one of \['smoke'\]"):
        _task().spec.resolved("paper")
