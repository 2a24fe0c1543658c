"""A test plugin: framework "fake" whose train step sleeps, runs out of memory or raises on demand.

Step time grows with the length like the model's attention class (quadratic/linear), so the ratios
in the table are predictable; peak memory is simulated bytes the backend reports exactly.
"""

from __future__ import annotations

import os
import signal
import time

import numpy as np

from lra_core import (
    Backend,
    Capabilities,
    EncoderConfig,
    ModelCard,
    ModelHandle,
    OutOfMemory,
    Task,
    hookimpl,
)
from lra_core.specs import parse_task_spec

BASE_SECONDS = 0.002
BASE_LENGTH = 128


def behaviour(kind: str):
    def factory(config, inputs):
        return {"kind": kind, "length": inputs.max_length, "config": config}

    return factory


def quadratic_flops(config, batch, length):
    return float(2 * batch * length * length * config.d_model)


class FakeHandle(ModelHandle):
    def __init__(self, module, backend):
        self.module = module
        self.backend = backend
        self.steps = 0

    def train_step(self, batch, lr):
        kind, length = self.module["kind"], batch.tokens.shape[-1]
        if batch.tokens.ndim != (3 if self.module.get("pair") else 2):
            raise AssertionError("wrong batch rank")
        if kind == "oomer" and length > 200:
            raise OutOfMemory(f"fake: out of memory at length {length}")
        if kind == "crasher" and length > 200:
            raise RuntimeError(f"fake: step failed at length {length}")
        if kind == "killer" and length > 200:
            os.kill(os.getpid(), signal.SIGKILL)
        power = 2 if kind in ("transformer", "oomer", "crasher", "killer") else 1
        time.sleep(BASE_SECONDS * (length / BASE_LENGTH) ** power)
        self.backend.allocated = max(self.backend.allocated, batch.tokens.shape[0] * length ** power * 4)
        self.steps += 1
        return np.float32(0.5)

    def eval_step(self, batch):
        return np.zeros((batch.size, 2), np.float32)

    def encode(self, tokens, mask, *, train=False, seed=0):
        return np.zeros((*tokens.shape, 4), np.float32)

    def export_params(self):
        return {"encoder.w": np.zeros((3, 5), np.float32), "head.b": np.zeros(2, np.float32)}

    def import_params(self, params):
        pass

    def save_checkpoint(self, directory):
        pass

    def load_checkpoint(self, directory):
        pass

    def encoder_gradients(self, tokens, mask):
        return {}

    def encode_preserves_inputs(self, tokens, mask):
        return True

    def count_flops(self, tokens, mask, *, train_step=False):
        return 1234.0


class FakeBackend(Backend):
    framework = "fake"
    description = "test backend"
    memory_counter = "fake simulated bytes"

    def __init__(self, device="auto", precision="fp32", compile=False):
        super().__init__(device, precision, compile)
        self.allocated = 0

    def build(self, card, config, inputs, *, seed, head=None, optimizer=None):
        module = card.factory(config, inputs)
        module["pair"] = bool(head and head.pair)
        return FakeHandle(module, self)

    def sync(self):
        pass

    def reset_peak_memory(self):
        self.allocated = 0

    def peak_memory_bytes(self):
        return self.allocated

    def describe_device(self):
        return {"kind": "cpu", "name": "Fake H100 80GB HBM3", "count": 1, "fake_version": "1.0"}


def _card(name, kind, **caps):
    return ModelCard(
        name=name,
        framework="fake",
        factory=behaviour(kind),
        capabilities=Capabilities(**caps),
        flops=quadratic_flops if name == "transformer" else None,
    )


CARDS = [
    _card("transformer", "transformer"),
    _card("linear", "linear", complexity="linear"),
    _card("oomer", "oomer"),
    _card("crasher", "crasher"),
    _card("killer", "killer"),
    _card("capped", "linear", max_length=200),
]


def spec(task_id: str, input_kind: str):
    enc = {"d_model": 8, "num_heads": 2, "num_layers": 1, "mlp_dim": 16, "qkv_dim": 8}
    return parse_task_spec(
        {
            "id": task_id,
            "version": 1,
            "title": task_id,
            "input": input_kind,
            "num_classes": 2,
            "pooling": "cls",
            "vocab_size": 258,
            "pad_id": 0,
            "cls_id": 1,
            "max_length": 4000,
            "sources": ["generated"],
            "default_source": "generated",
            "splits": {"train": 10, "validation": 10, "test": 10},
            "presets": {
                "smoke": {"encoder": enc, "training": {"batch_size": 2, "learning_rate": 0.01}},
                "code": {"encoder": enc, "training": {"batch_size": 32}},
            },
        }
    )


def _no_data(request):
    raise RuntimeError("the fake tasks have no data")


@hookimpl
def lra_register_backends(register):
    register(FakeBackend)


@hookimpl
def lra_register_models(register):
    for card in CARDS:
        register(card)


@hookimpl
def lra_register_tasks(register):
    register(Task(spec=spec("fake-text", "single"), builder=_no_data))
    register(Task(spec=spec("fake-pair", "pair"), builder=_no_data))
