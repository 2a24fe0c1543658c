"""Make real importlib.metadata distributions on disk (dist-info + module), without pip.

Entry-point discovery goes through importlib.metadata exactly as for a pip-installed package.
"""

from __future__ import annotations

import textwrap
from pathlib import Path


def make_distribution(root: Path, dist: str, version: str, entry_points: dict[str, str], modules: dict[str, str]) -> None:
    """Write ``<dist>-<version>.dist-info`` with an ``lra`` entry-point group and the module files."""
    info = root / f"{dist.replace('-', '_')}-{version}.dist-info"
    info.mkdir(parents=True)
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {dist}\nVersion: {version}\n")
    eps = "[lra]\n" + "".join(f"{name} = {target}\n" for name, target in entry_points.items())
    (info / "entry_points.txt").write_text(eps)
    top_level = set()
    for module, source in modules.items():
        path = root / (module.replace(".", "/") + ".py")
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(source))
        top_level.add(module.split(".")[0])
    (info / "top_level.txt").write_text("\n".join(sorted(top_level)) + "\n")
    (info / "RECORD").write_text("")


MODEL_PLUGIN = """
from lra_core import ModelCard, hookimpl

def build(config, inputs):
    return None

@hookimpl
def lra_register_models(register):
    register(ModelCard(name="{name}", framework="{framework}", factory=build))
"""

BROKEN_AT_IMPORT = """
raise RuntimeError("this plugin is broken on purpose")
"""

BROKEN_HOOK = """
from lra_core import hookimpl

@hookimpl
def lra_register_models(register):
    raise ValueError("hook exploded")
"""
