"""Plugin discovery through real importlib.metadata distributions, isolation, clashes, switches."""

from __future__ import annotations

import sys
from pathlib import Path

import pytest

from lra_core import ModelCard, PluginError, load_registry

sys.path.insert(0, str(Path(__file__).parent))
from fake_dists import BROKEN_AT_IMPORT, BROKEN_HOOK, MODEL_PLUGIN, make_distribution  # noqa: E402


@pytest.fixture
def site(tmp_path, monkeypatch):
    root = tmp_path / "site"
    root.mkdir()
    monkeypatch.syspath_prepend(str(root))
    monkeypatch.delenv("LRA_DISABLE_PLUGIN_AUTOLOAD", raising=False)
    monkeypatch.delenv("LRA_PLUGINS", raising=False)
    return root


def _only(names):
    # Restrict to the test's own distributions so the result does not depend on what else is installed.
    return list(names)


def test_entry_point_model_is_discovered_with_distribution_and_version(site):
    make_distribution(site, "acme-models", "2.0.1", {"acme": "acme_plugin"},
                      {"acme_plugin": MODEL_PLUGIN.format(name="fastformer", framework="torch")})
    reg = load_registry(allow=_only(["acme-models"]))
    card = reg.model("torch/fastformer")
    assert isinstance(card, ModelCard)
    info = reg.origin("model", "torch/fastformer")
    assert (info.distribution, info.version, info.source) == ("acme-models", "2.0.1", "entry-point")
    assert reg.model("fastformer") is card  # bare name resolves when unambiguous


def test_plugin_failing_at_import_is_reported_and_others_still_load(site):
    make_distribution(site, "bad-dist", "0.1", {"bad": "bad_plugin"}, {"bad_plugin": BROKEN_AT_IMPORT})
    make_distribution(site, "good-dist", "0.2", {"good": "good_plugin"},
                      {"good_plugin": MODEL_PLUGIN.format(name="ok", framework="jax")})
    reg = load_registry(allow=["bad-dist", "good-dist"])
    failed = reg.failed_plugins()
    assert [p.distribution for p in failed] == ["bad-dist"]
    assert "broken on purpose" in failed[0].error
    assert "jax/ok" in reg.models


def test_hook_that_raises_is_isolated(site):
    make_distribution(site, "hooky", "1.0", {"hooky": "hooky_plugin"}, {"hooky_plugin": BROKEN_HOOK})
    make_distribution(site, "fine", "1.0", {"fine": "fine_plugin"},
                      {"fine_plugin": MODEL_PLUGIN.format(name="m", framework="torch")})
    reg = load_registry(allow=["hooky", "fine"])
    (bad,) = reg.failed_plugins()
    assert bad.distribution == "hooky" and "hook exploded" in bad.error
    assert "torch/m" in reg.models


def test_duplicate_model_is_an_error_naming_both_distributions(site):
    for dist in ("first-dist", "second-dist"):
        mod = dist.replace("-", "_")
        make_distribution(site, dist, "3.0", {mod: mod}, {mod: MODEL_PLUGIN.format(name="twin", framework="torch")})
    reg = load_registry(allow=["first-dist", "second-dist"])
    with pytest.raises(PluginError) as exc:
        reg.model("torch/twin")
    msg = str(exc.value)
    assert "first-dist 3.0" in msg and "second-dist 3.0" in msg


def test_disabled_autoload_loads_no_entry_points_but_p_modules(site, monkeypatch):
    make_distribution(site, "acme-models", "1.0", {"acme": "acme_plugin"},
                      {"acme_plugin": MODEL_PLUGIN.format(name="auto", framework="torch")})
    (site / "local_plugin.py").write_text(MODEL_PLUGIN.format(name="local", framework="torch"))
    monkeypatch.setenv("LRA_DISABLE_PLUGIN_AUTOLOAD", "1")
    reg = load_registry(modules=["local_plugin"])
    assert list(reg.models) == ["torch/local"]
    assert reg.plugins[0].source == "-p"


def test_unknown_and_ambiguous_names_get_helpful_messages(site):
    make_distribution(site, "d1", "1.0", {"d1": "d1_plugin"}, {"d1_plugin": MODEL_PLUGIN.format(name="performer", framework="torch")})
    make_distribution(site, "d2", "1.0", {"d2": "d2_plugin"}, {"d2_plugin": MODEL_PLUGIN.format(name="performer", framework="jax")})
    reg = load_registry(allow=["d1", "d2"])
    with pytest.raises(PluginError, match="ambiguous.*jax/performer.*torch/performer"):
        reg.model("performer")
    with pytest.raises(PluginError, match="did you mean 'torch/performer'"):
        reg.model("torch/performr")


def test_registering_the_wrong_type_fails_that_plugin_only(site):
    src = """
from lra_core import hookimpl

@hookimpl
def lra_register_models(register):
    register({"name": "not a card"})
"""
    make_distribution(site, "wrongtype", "1.0", {"w": "wrong_plugin"}, {"wrong_plugin": src})
    reg = load_registry(allow=["wrongtype"])
    (bad,) = reg.failed_plugins()
    assert "is not an lra_core.ModelCard" in bad.error
