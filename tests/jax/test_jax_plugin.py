"""The lra-jax distribution registers its backend and reference model through the real entry point."""

from __future__ import annotations

from lra_core import load_registry
from lra_jax.backend import JaxBackend
from lra_jax.models import transformer


def test_entry_point_registers_backend_and_transformer():
    reg = load_registry(allow=["jax"])
    assert reg.backends["jax"] is JaxBackend
    assert reg.models["jax/transformer"] is transformer.CARD
    origin = reg.origin("model", "jax/transformer")
    assert origin.source == "entry-point" and origin.distribution == "lra-jax"
    assert not reg.failed_plugins()


def test_backend_describes_cpu():
    info = JaxBackend("cpu").describe_device()
    assert info["kind"] == "cpu" and info["count"] >= 1 and info["versions"]["jax"]
