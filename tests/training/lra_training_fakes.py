"""A third-party-style plugin for the training tests: a NumPy backend, a model card and a tiny task.

Loaded with ``-p lra_training_fakes`` (this folder on PYTHONPATH). It proves the core is
framework-agnostic: the framework here is "numpy" (softmax regression on mean-pooled embeddings,
Adam with LRA's decoupled weight decay, dropout driven by a NumPy Generator whose state is
checkpointed).

Fault injection for tests, by environment variable (update numbers count from 1):
``LRA_FAKE_NAN_AT_STEP`` (loss NaN), ``LRA_FAKE_KILL_AT_STEP`` (SIGKILL itself),
``LRA_FAKE_SIGINT_AT_STEP`` (send itself SIGINT), ``LRA_FAKE_FAIL_AT_STEP`` (raise).
"""

from __future__ import annotations

import json
import os
import signal
from pathlib import Path
from typing import Any, Callable

import numpy as np

from lra_core import (
    Backend,
    Batch,
    BuildRequest,
    Capabilities,
    EncoderConfig,
    EncoderInputs,
    HeadSpec,
    MissingDataError,
    ModelCard,
    ModelHandle,
    OptimizerSettings,
    Task,
    hookimpl,
)
from lra_core.specs import parse_task_spec


def _env_step(name: str) -> int | None:
    v = os.environ.get(name)
    return int(v) if v else None


class LazyLoss:
    """Stands in for a device scalar: the value is only read when the loop calls float()."""

    def __init__(self, value: float) -> None:
        self._value = value
        self.read = False

    def __float__(self) -> float:
        self.read = True
        return self._value


def build_bag(config: EncoderConfig, inputs: EncoderInputs) -> dict[str, Any]:
    return {"config": config, "inputs": inputs}


class NumpyHandle(ModelHandle):
    def __init__(self, config: EncoderConfig, inputs: EncoderInputs, seed: int, head: HeadSpec | None,
                 opt: OptimizerSettings | None) -> None:
        if head is not None and head.pair:
            raise NotImplementedError("the numpy test backend has no two-tower head")
        if head is not None and head.pooling != "mean":
            raise NotImplementedError("the numpy test backend pools by mean only")
        rng = np.random.default_rng(seed)
        d = config.d_model
        self.head = head
        self.dropout = config.dropout
        self.opt = opt or OptimizerSettings()
        self.params: dict[str, np.ndarray] = {"encoder.embed.weight": rng.normal(size=(inputs.vocab_size, d))}
        if head is not None:
            self.params["head.logits.weight"] = rng.normal(size=(head.num_classes, d)) / np.sqrt(d)
            self.params["head.logits.bias"] = np.zeros(head.num_classes)
        self.m = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.v = {k: np.zeros_like(v) for k, v in self.params.items()}
        self.updates = 0
        self.rng = np.random.default_rng(seed + 1)

    # -- model --
    def encode(self, tokens: np.ndarray, mask: np.ndarray, *, train: bool = False, seed: int = 0) -> np.ndarray:
        # Each position adds the sequence's mean embedding, so every output sees every real token
        # (LRA_FAKE_CAUSAL drops that, making the model fail the conformance suite on purpose).
        x = self.params["encoder.embed.weight"][tokens] * mask[..., None]
        if not os.environ.get("LRA_FAKE_CAUSAL"):
            x = x + self._mean(tokens, mask)[0][:, None, :] * mask[..., None]
        return x.astype(np.float32)

    def _mean(self, tokens: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        x = self.params["encoder.embed.weight"][tokens] * mask[..., None]
        w = mask / np.maximum(mask.sum(axis=1, keepdims=True), 1)
        return np.einsum("bl,bld->bd", w, x), w

    def _pool(self, tokens: np.ndarray, mask: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean pooling of :meth:`encode` over real tokens: twice the mean embedding."""
        h, w = self._mean(tokens, mask)
        return 2.0 * h, 2.0 * w

    def _logits(self, h: np.ndarray) -> np.ndarray:
        return h @ self.params["head.logits.weight"].T + self.params["head.logits.bias"]

    def train_step(self, batch: Batch, lr: float) -> LazyLoss:
        self.updates += 1
        k = self.updates
        if k == _env_step("LRA_FAKE_KILL_AT_STEP"):
            os.kill(os.getpid(), signal.SIGKILL)
        if k == _env_step("LRA_FAKE_FAIL_AT_STEP"):
            raise RuntimeError(f"injected model failure at step {k}")
        if k == _env_step("LRA_FAKE_SIGINT_AT_STEP"):
            os.kill(os.getpid(), signal.SIGINT)
        tokens, mask, labels = batch.tokens, batch.mask, batch.labels
        h, w = self._pool(tokens, mask)
        keep = (self.rng.random(h.shape) >= self.dropout) / (1.0 - self.dropout)
        hd = h * keep
        z = self._logits(hd)
        z = z - z.max(axis=1, keepdims=True)
        p = np.exp(z) / np.exp(z).sum(axis=1, keepdims=True)
        n = labels.shape[0]
        loss = float(-np.log(p[np.arange(n), labels]).mean())
        dz = p.copy()
        dz[np.arange(n), labels] -= 1.0
        dz /= n
        grads = {
            "head.logits.weight": dz.T @ hd,
            "head.logits.bias": dz.sum(axis=0),
        }
        dh = (dz @ self.params["head.logits.weight"]) * keep
        dE = np.zeros_like(self.params["encoder.embed.weight"])
        np.add.at(dE, tokens, (w * mask)[..., None] * dh[:, None, :])
        grads["encoder.embed.weight"] = dE
        self._adam(grads, lr)
        if k == _env_step("LRA_FAKE_NAN_AT_STEP"):
            loss = float("nan")
        return LazyLoss(loss)

    def _adam(self, grads: dict[str, np.ndarray], lr: float) -> None:
        o = self.opt
        t = self.updates
        if o.grad_clip_norm:
            norm = np.sqrt(sum(float((g**2).sum()) for g in grads.values()))
            scale = min(1.0, o.grad_clip_norm / max(norm, 1e-12))
            grads = {k: g * scale for k, g in grads.items()}
        for name, g in grads.items():
            self.m[name] = o.beta1 * self.m[name] + (1 - o.beta1) * g
            self.v[name] = o.beta2 * self.v[name] + (1 - o.beta2) * g * g
            mh = self.m[name] / (1 - o.beta1**t)
            vh = self.v[name] / (1 - o.beta2**t)
            p = self.params[name]
            self.params[name] = p - lr * mh / (np.sqrt(vh) + o.eps) - lr * o.weight_decay * p

    def eval_step(self, batch: Batch) -> np.ndarray:
        h, _ = self._pool(batch.tokens, batch.mask)
        return self._logits(h).astype(np.float32)

    def export_params(self) -> dict[str, np.ndarray]:
        return {k: v.astype(np.float32) for k, v in self.params.items()}

    def import_params(self, params: dict[str, np.ndarray]) -> None:
        if set(params) != set(self.params):
            raise KeyError(f"parameter names differ: {sorted(set(params) ^ set(self.params))}")
        self.params = {k: np.asarray(params[k], dtype=np.float64) for k in self.params}

    def save_checkpoint(self, directory: Path) -> None:
        directory.mkdir(parents=True, exist_ok=True)
        arrays = {f"p/{k}": v for k, v in self.params.items()}
        arrays.update({f"m/{k}": v for k, v in self.m.items()})
        arrays.update({f"v/{k}": v for k, v in self.v.items()})
        np.savez(directory / "state.npz", **arrays)
        (directory / "meta.json").write_text(json.dumps({"updates": self.updates, "rng": self.rng.bit_generator.state}))

    def load_checkpoint(self, directory: Path) -> None:
        with np.load(directory / "state.npz") as data:
            for prefix, table in (("p/", self.params), ("m/", self.m), ("v/", self.v)):
                for k in table:
                    table[k] = data[prefix + k]
        meta = json.loads((directory / "meta.json").read_text())
        self.updates = meta["updates"]
        self.rng.bit_generator.state = meta["rng"]

    def encoder_gradients(self, tokens: np.ndarray, mask: np.ndarray) -> dict[str, np.ndarray]:
        _, w = self._pool(tokens, mask)
        g = np.zeros_like(self.params["encoder.embed.weight"])
        np.add.at(g, tokens, np.broadcast_to(w[..., None], tokens.shape + (g.shape[1],)))
        return {"encoder.embed.weight": g}

    def encode_preserves_inputs(self, tokens: np.ndarray, mask: np.ndarray) -> bool:
        t, m = tokens.copy(), mask.copy()
        self.encode(tokens, mask)
        return bool((t == tokens).all() and (m == mask).all())


class NumpyBackend(Backend):
    framework = "numpy"
    description = "NumPy softmax regression (tests only)"

    def build(self, card: ModelCard, config: EncoderConfig, inputs: EncoderInputs, *, seed: int,
              head: HeadSpec | None = None, optimizer: OptimizerSettings | None = None) -> ModelHandle:
        card.factory(config, inputs)
        return NumpyHandle(config, inputs, seed, head, optimizer)

    def sync(self) -> None:
        pass

    def reset_peak_memory(self) -> None:
        pass

    def peak_memory_bytes(self) -> int | None:
        return 1234

    def describe_device(self) -> dict[str, Any]:
        return {"kind": "cpu", "name": "numpy", "count": 1, "framework_versions": {"numpy": np.__version__}}


CARD = ModelCard(
    name="bag",
    framework="numpy",
    factory=build_bag,
    config=EncoderConfig,
    capabilities=Capabilities(padding_mask=True, complexity="linear"),
    description="bag of embeddings (tests only)",
)

SPEC = {
    "id": "tiny",
    "version": 1,
    "title": "Tiny majority-token task (tests only)",
    "num_classes": 3,
    "pooling": "mean",
    "vocab_size": 8,
    "pad_id": 0,
    "cls_id": 1,
    "max_length": 12,
    "sources": ["generated"],
    "default_source": "generated",
    "splits": {"train": 320, "validation": 64, "test": 80},
    "deviations": ["tiny test task"],
    "presets": {
        "smoke": {
            "encoder": {"d_model": 8, "num_heads": 1, "num_layers": 1, "mlp_dim": 8, "qkv_dim": 8, "dropout": 0.1},
            "training": {"batch_size": 16, "num_train_steps": 60, "learning_rate": 0.5, "warmup_steps": 10,
                         "eval_every": 20, "weight_decay": 0.01},
        },
        "code": {
            "encoder": {"d_model": 8, "num_heads": 1, "num_layers": 1, "mlp_dim": 8, "qkv_dim": 8},
            "training": {"batch_size": 16, "num_train_steps": 100, "eval_every": 25},
        },
    },
}


def build_tiny(request: BuildRequest) -> Any:
    """Label: the most frequent of tokens 2, 3, 4 (ties to the lower id), with noise; tokens in [2, 8)."""
    import datasets

    rng = np.random.default_rng(request.seed)
    out = {}
    for split, n in request.task.splits.items():
        rows, labels = [], []
        for _ in range(n):
            length = int(rng.integers(4, request.task.max_length + 1))
            seq = rng.integers(2, 8, size=length)
            counts = [int((seq == t).sum()) for t in (2, 3, 4)]
            rows.append(seq.tolist())
            # 20% label noise keeps accuracy off 100%, so runs differ visibly when anything differs.
            labels.append(int(np.argmax(counts)) if rng.random() >= 0.2 else int(rng.integers(0, 3)))
        out[split] = datasets.Dataset.from_dict({"inputs": rows, "label": labels})
    return datasets.DatasetDict(out)


TASK = Task(spec=parse_task_spec(SPEC, "lra_training_fakes.SPEC"), builder=build_tiny)


def build_missing(request: BuildRequest) -> Any:
    raise MissingDataError(f"task {request.task.task}: put the files in /nowhere (test task without data)")


MISSING_TASK = Task(
    spec=parse_task_spec({**SPEC, "id": "tiny-nodata", "title": "Tiny task without data (tests only)"}, "SPEC"),
    builder=build_missing,
)


@hookimpl
def lra_register_backends(register: Callable[[Any], None]) -> None:
    register(NumpyBackend)


@hookimpl
def lra_register_models(register: Callable[[Any], None]) -> None:
    register(CARD)


@hookimpl
def lra_register_tasks(register: Callable[[Any], None]) -> None:
    register(TASK)
    register(MISSING_TASK)
