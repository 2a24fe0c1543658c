"""Data parallel over local devices: two forced host devices give the loss of one device."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import textwrap

SCRIPT = textwrap.dedent(
    """
    import json
    import jax
    import numpy as np
    from lra_core import Batch, EncoderConfig, EncoderInputs, HeadSpec, OptimizerSettings
    from lra_jax.backend import JaxBackend
    from lra_jax.models.transformer import CARD

    assert len(jax.devices("cpu")) == 2, jax.devices()
    cfg = EncoderConfig(d_model=16, num_heads=2, num_layers=1, mlp_dim=16, qkv_dim=16, dropout=0.1, attention_dropout=0.1)
    inputs = EncoderInputs(vocab_size=13, max_length=8)
    head = HeadSpec(num_classes=3, pooling="cls", pair=False, mlp_dim=16)
    rng = np.random.default_rng(0)
    tokens = rng.integers(2, 13, (4, 8)).astype(np.int32)
    tokens[:, 0] = 1
    batch = Batch(tokens, np.ones((4, 8), bool), rng.integers(0, 3, 4).astype(np.int32))
    out = {}
    for name, device in (("one", "cpu:0"), ("two", "cpu")):
        be = JaxBackend(device)
        h = be.build(CARD, cfg, inputs, seed=0, head=head, optimizer=OptimizerSettings(weight_decay=0.1))
        out[name] = {"devices": be.num_devices, "losses": [float(h.train_step(batch, 1e-2)) for _ in range(3)]}
        if name == "two":
            leaf = jax.tree.leaves(h.params)[0]
            out[name]["param_devices"] = len(leaf.sharding.device_set)
            out[name]["logits_rows"] = h.eval_step(batch).shape[0]
    print(json.dumps(out))
    """
)


def test_two_devices_same_loss_as_one():
    env = dict(os.environ, XLA_FLAGS="--xla_force_host_platform_device_count=2", JAX_PLATFORMS="cpu")
    proc = subprocess.run([sys.executable, "-c", SCRIPT], env=env, capture_output=True, text=True, timeout=600)
    assert proc.returncode == 0, proc.stderr[-3000:]
    out = json.loads(proc.stdout.strip().splitlines()[-1])
    assert out["one"]["devices"] == 1 and out["two"]["devices"] == 2
    assert out["two"]["param_devices"] == 2  # replicated on both devices
    assert out["two"]["logits_rows"] == 4
    for a, b in zip(out["one"]["losses"], out["two"]["losses"]):
        assert abs(a - b) < 1e-5
    assert out["one"]["losses"][0] != out["one"]["losses"][-1]
