"""lra_core (and the conformance suite) import neither torch nor jax: frameworks come via backends."""

from __future__ import annotations

import subprocess
import sys

SCRIPT = """
import importlib, pkgutil, sys
import lra_core, lra_conformance
for pkg in (lra_core, lra_conformance):
    for info in pkgutil.walk_packages(pkg.__path__, pkg.__name__ + "."):
        if info.name.endswith("__main__"):
            continue
        importlib.import_module(info.name)
bad = sorted(m for m in ("torch", "jax", "flax", "matplotlib") if m in sys.modules)
print(",".join(bad))
"""


def test_importing_every_core_module_loads_no_framework():
    out = subprocess.run([sys.executable, "-c", SCRIPT], capture_output=True, text=True, timeout=300)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "", f"lra_core imported {out.stdout.strip()}"
