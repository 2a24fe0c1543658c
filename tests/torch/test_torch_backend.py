"""The torch backend against the lra_core contract: seeding, params, checkpoints, optimizer, precision."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from lra_core import (
    Batch,
    EncoderConfig,
    EncoderInputs,
    HeadSpec,
    ModelCard,
    OptimizerSettings,
    OutOfMemory,
    PluginError,
    UserError,
    load_registry,
)
from lra_torch.backend import TorchBackend, TorchModelHandle
from lra_torch.models.transformer import CARD

INPUTS = EncoderInputs(vocab_size=12, max_length=9)
HEAD = HeadSpec(num_classes=3, pooling="cls", pair=False, mlp_dim=16)


def config(dropout: float = 0.1) -> EncoderConfig:
    return EncoderConfig(
        d_model=8, num_heads=2, num_layers=1, mlp_dim=16, qkv_dim=8, dropout=dropout, attention_dropout=dropout,
        positional="learned",
    )


def build(
    seed: int = 0,
    dropout: float = 0.1,
    optimizer: OptimizerSettings | None = None,
    head: HeadSpec | None = HEAD,
    precision: str = "fp32",
) -> TorchModelHandle:
    backend = TorchBackend("cpu", precision)  # type: ignore[arg-type]
    return backend.build(CARD, config(dropout), INPUTS, seed=seed, head=head, optimizer=optimizer)


def batch(seed: int, size: int = 4, pair: bool = False) -> Batch:
    rng = np.random.default_rng(seed)
    shape = (size, 2, INPUTS.max_length) if pair else (size, INPUTS.max_length)
    tokens = rng.integers(1, INPUTS.vocab_size, shape).astype(np.int32)
    lengths = rng.integers(3, INPUTS.max_length + 1, shape[:-1])
    mask = np.arange(INPUTS.max_length) < lengths[..., None]
    tokens[~mask] = 0
    return Batch(tokens, mask, rng.integers(0, HEAD.num_classes, size).astype(np.int32))


def same_params(a: dict[str, np.ndarray], b: dict[str, np.ndarray]) -> bool:
    return a.keys() == b.keys() and all(np.array_equal(a[k], b[k]) for k in a)


# ---- registration and construction -----------------------------------------------------------
def test_registers_through_the_real_entry_point() -> None:
    registry = load_registry()
    assert registry.backend("torch") is TorchBackend
    assert registry.model("torch/transformer").factory is CARD.factory
    assert registry.origin("backend", "torch").distribution == "lra-torch"


@pytest.mark.parametrize("device", ["tpu", "cuda:x", "gpu0"])
def test_bad_device_is_a_user_error_naming_the_flag(device: str) -> None:
    with pytest.raises(UserError, match="--device"):
        TorchBackend(device)


@pytest.mark.skipif(torch.cuda.is_available(), reason="needs a machine without CUDA")
def test_cuda_without_cuda_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--device cuda:0: CUDA is not available"):
        TorchBackend("cuda:0")
    assert TorchBackend("auto").device.type == "cpu"


def test_bad_precision_is_a_user_error() -> None:
    with pytest.raises(UserError, match="--precision"):
        TorchBackend("cpu", "fp16")  # type: ignore[arg-type]


def test_refuses_a_card_of_another_framework() -> None:
    jax_card = ModelCard(name="x", framework="jax", factory=lambda c, i: None)
    with pytest.raises(PluginError, match="jax model"):
        TorchBackend("cpu").build(jax_card, config(), INPUTS, seed=0)


def test_describe_device_on_cpu() -> None:
    info = TorchBackend("cpu").describe_device()
    assert info["kind"] == "cpu" and info["count"] == 1 and info["torch"] == torch.__version__
    assert info["threads"] == torch.get_num_threads() and info["name"]


# ---- seeding and parameters ------------------------------------------------------------------
def test_seeded_init_is_reproducible_and_seed_dependent() -> None:
    a, b, c = build(seed=5).export_params(), build(seed=5).export_params(), build(seed=6).export_params()
    assert same_params(a, b)
    assert not np.array_equal(a["encoder.embeddings.embed.weight"], c["encoder.embeddings.embed.weight"])
    assert not np.array_equal(a["head.hidden.weight"], c["head.hidden.weight"])


def test_export_names_are_canonical_and_exclude_buffers() -> None:
    params = build().export_params()
    assert {"head.hidden.weight", "head.hidden.bias", "head.logits.weight", "head.logits.bias"} <= set(params)
    assert all(k.startswith(("encoder.", "head.")) for k in params)
    assert params["encoder.layers.0.attn.query.weight"].shape == (8, 8)
    assert params["head.hidden.weight"].shape == (16, 8)  # Linear [out, in]
    sinusoidal = TorchBackend("cpu").build(
        CARD, config().model_copy(update={"positional": "sinusoidal"}), INPUTS, seed=0
    )
    assert not any("pos" in k for k in sinusoidal.export_params())  # the fixed table is a buffer
    assert sinusoidal.num_params() == sinusoidal.num_params(encoder_only=True)


def test_export_import_round_trip_gives_identical_outputs() -> None:
    source, target = build(seed=0), build(seed=1)
    b = batch(0)
    assert not np.array_equal(source.eval_step(b), target.eval_step(b))
    target.import_params(source.export_params())
    np.testing.assert_array_equal(source.eval_step(b), target.eval_step(b))
    assert same_params(source.export_params(), target.export_params())
    assert source.num_params() == sum(v.size for v in source.export_params().values())


def test_export_is_a_copy() -> None:
    handle = build()
    params = handle.export_params()
    params["head.logits.bias"][:] = 123.0
    assert not np.any(handle.export_params()["head.logits.bias"] == 123.0)


def test_import_rejects_missing_extra_and_misshapen_params_by_name() -> None:
    handle = build()
    before = handle.export_params()
    params = dict(before)
    del params["head.logits.bias"]
    with pytest.raises(KeyError, match="head.logits.bias"):
        handle.import_params(params)
    with pytest.raises(KeyError, match="head.extra"):
        handle.import_params({**before, "head.extra": np.zeros(1)})
    bad = {**before, "head.hidden.weight": np.zeros((16, 9), np.float32)}
    bad["encoder.norm.weight"] = np.full_like(before["encoder.norm.weight"], 7.0)
    with pytest.raises(ValueError, match=r"head.hidden.weight.*\(16, 9\)"):
        handle.import_params(bad)
    assert same_params(handle.export_params(), before)  # nothing was half-imported


# ---- training --------------------------------------------------------------------------------
def test_train_step_returns_a_detached_scalar_and_learns() -> None:
    handle = build(dropout=0.0)
    b = batch(0, size=8)
    first = handle.train_step(b, 1e-2)
    assert isinstance(first, torch.Tensor) and first.ndim == 0 and not first.requires_grad
    labels = torch.from_numpy(b.labels).long()
    expected = F.cross_entropy(torch.from_numpy(build(dropout=0.0).eval_step(b)), labels)
    assert float(first) == pytest.approx(float(expected), rel=1e-5)  # mean CE, no smoothing
    for _ in range(30):
        last = handle.train_step(b, 1e-2)
    assert float(last) < 0.5 * float(first)


def test_weight_decay_is_decoupled_and_applies_to_every_param() -> None:
    lr, wd = 0.01, 0.3
    settings = OptimizerSettings(weight_decay=wd)
    handle = build(dropout=0.0, optimizer=settings)
    before = handle.export_params()
    b = batch(1)
    # The gradient, from a twin model (no dropout, so the forward is deterministic).
    twin = build(dropout=0.0)
    logits = twin.model(*twin._inputs(b.tokens, b.mask))
    F.cross_entropy(logits, torch.from_numpy(b.labels).long()).backward()
    grads = {n: p.grad.double().numpy() for n, p in twin.model.named_parameters()}

    handle.train_step(b, lr)
    after = handle.export_params()
    for name, p0 in before.items():
        g = grads[name]
        # Adam's first step: m_hat = g, v_hat = g^2; then p - lr*update - lr*wd*p (LRA/Flax).
        update = g / (np.abs(g) + settings.eps)
        expected = p0 - lr * update - lr * wd * p0
        np.testing.assert_allclose(after[name], expected, rtol=1e-5, atol=1e-7, err_msg=name)
    # Unused embedding rows have no gradient: only the decay moves them, biases and LN included.
    unused = sorted(set(range(INPUTS.vocab_size)) - set(np.unique(b.tokens)))
    emb = "encoder.embeddings.embed.weight"
    if unused:
        np.testing.assert_allclose(after[emb][unused], before[emb][unused] * (1 - lr * wd), rtol=1e-6)
    for name in ("encoder.norm.weight", "encoder.layers.0.attn.out.bias", "head.logits.bias"):
        assert not np.array_equal(after[name], before[name])


def test_gradient_clipping_engages_by_global_norm() -> None:
    b = batch(2)
    raw = build(dropout=0.0)
    raw.train_step(b, 1e-3)
    raw_grads = [p.grad.clone() for p in raw._params]
    raw_norm = float(torch.linalg.vector_norm(torch.stack([g.norm() for g in raw_grads])))

    max_norm = raw_norm / 4
    clipped = build(dropout=0.0, optimizer=OptimizerSettings(grad_clip_norm=max_norm))
    clipped.train_step(b, 1e-3)
    for g_raw, p in zip(raw_grads, clipped._params):
        torch.testing.assert_close(p.grad, g_raw * (max_norm / raw_norm), rtol=1e-5, atol=1e-8)

    loose = build(dropout=0.0, optimizer=OptimizerSettings(grad_clip_norm=raw_norm * 10))
    loose.train_step(b, 1e-3)
    for g_raw, p in zip(raw_grads, loose._params):
        torch.testing.assert_close(p.grad, g_raw)  # below the threshold nothing is scaled


def test_checkpoint_resume_is_bit_exact_on_cpu(tmp_path: Path) -> None:
    batches = [batch(i) for i in range(6)]
    lrs = [1e-3, 2e-3, 3e-3, 3e-3, 2e-3, 1e-3]
    reference = build(seed=0)  # dropout 0.1: the RNG stream must be restored too
    for b, lr in zip(batches[:3], lrs[:3]):
        reference.train_step(b, lr)
    reference.save_checkpoint(tmp_path / "ckpt")
    losses = [float(reference.train_step(b, lr)) for b, lr in zip(batches[3:], lrs[3:])]

    resumed = build(seed=0)
    torch.manual_seed(999)  # as a new process would be: the global stream is elsewhere
    resumed.load_checkpoint(tmp_path / "ckpt")
    resumed_losses = [float(resumed.train_step(b, lr)) for b, lr in zip(batches[3:], lrs[3:])]
    assert resumed_losses == losses
    assert same_params(resumed.export_params(), reference.export_params())
    e = batches[0]
    np.testing.assert_array_equal(resumed.eval_step(e), reference.eval_step(e))


def test_load_checkpoint_from_an_empty_directory_is_a_user_error(tmp_path: Path) -> None:
    with pytest.raises(UserError, match="no torch checkpoint"):
        build().load_checkpoint(tmp_path)


def test_pair_batches_train_and_evaluate() -> None:
    head = HeadSpec(num_classes=3, pooling="mean", pair=True, mlp_dim=16)
    handle = build(head=head)
    b = batch(3, pair=True)
    assert np.isfinite(float(handle.train_step(b, 1e-3)))
    assert handle.eval_step(b).shape == (4, 3)
    assert handle.count_flops(b.tokens, b.mask, train_step=True) > 0


def test_bf16_autocast_runs_on_cpu() -> None:
    b = batch(4)
    bf16, fp32 = build(precision="bf16", dropout=0.0), build(precision="fp32", dropout=0.0)
    out16, out32 = bf16.eval_step(b), fp32.eval_step(b)
    assert out16.dtype == np.float32
    assert not np.array_equal(out16, out32)  # autocast really ran the matmuls in bf16
    np.testing.assert_allclose(out16, out32, atol=0.1)
    assert np.isfinite(float(bf16.train_step(b, 1e-3)))
    assert bf16.encode(b.tokens, b.mask).dtype == np.float32


def test_out_of_memory_in_train_step_becomes_lra_out_of_memory(monkeypatch: pytest.MonkeyPatch) -> None:
    handle = build()

    def oom(*args: object) -> torch.Tensor:
        raise torch.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

    monkeypatch.setattr(handle, "_forward", oom)
    with pytest.raises(OutOfMemory) as info:
        handle.train_step(batch(0), 1e-3)
    backend = handle.backend
    assert backend.is_out_of_memory(info.value) and backend.is_out_of_memory(info.value.__cause__)
    assert not backend.is_out_of_memory(ValueError("x"))


def test_train_and_eval_need_a_head() -> None:
    handle = build(head=None)
    with pytest.raises(RuntimeError, match="HeadSpec"):
        handle.train_step(batch(0), 1e-3)
