"""The built-in tasks register through the entry point, and `--task all` means LRA's six."""

from __future__ import annotations

from lra_core import load_registry


def test_suite_is_lra_six_and_variants_are_registered_by_name():
    reg = load_registry()
    suite = sorted(t for t, task in reg.tasks.items() if task.spec.suite)
    assert suite == ["image", "listops", "pathfinder", "pathx", "retrieval", "text"]
    assert {"pathfinder64", "pathx256", "pathfinder-easy", "pathx-intermediate"} <= set(reg.tasks)
    assert reg.origin("task", "listops").distribution == "lra-arena"
    for tid in suite:
        spec = reg.tasks[tid].spec
        assert {"code", "smoke"} <= set(spec.presets), tid
        assert spec.reference, f"{tid} carries the LRA paper's Table 1 accuracies"
