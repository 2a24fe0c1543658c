"""The suite on torch: the reference Transformer passes; each broken encoder is flagged by its rule."""

from __future__ import annotations

import pytest

pytest.importorskip("lra_torch")

import broken_torch_encoders as broken  # noqa: E402  (a plugin module next to this file)
from conformance_expect import assert_flags_only  # noqa: E402

from lra_conformance import CHECKS, run_checks  # noqa: E402
from lra_core import load_registry  # noqa: E402

FAST = [c.id for c in CHECKS.values() if c.fast]


@pytest.fixture(scope="module")
def registry():
    reg = load_registry(modules=["broken_torch_encoders"])
    assert not reg.failed_plugins(), [p.error for p in reg.failed_plugins()]
    return reg


def test_reference_transformer_passes_every_check(registry):
    report = run_checks("torch/transformer", registry=registry)
    assert [r.check for r in report.results] == list(CHECKS)
    assert report.ok
    assert {r.check: r.status for r in report.results} == {c: "pass" for c in CHECKS}, report.to_table()
    complexity = report.result("complexity").measured
    assert complexity["metric"] == "flops" and 1.65 < complexity["exponent"] < 2.35


def test_fast_subset_is_what_lra_run_calls(registry):
    card = registry.model("torch/transformer")
    report = run_checks(card, registry=registry, fast_only=True)
    assert report.ok and report.fast_only
    assert [r.check for r in report.results] == FAST


def test_ok_encoder_passes_fast_checks(registry):
    report = run_checks("torch/cf-ok", registry=registry, fast_only=True)
    assert all(r.status == "pass" for r in report.results), report.to_table()


@pytest.mark.parametrize("name", sorted(broken.EXPECTED))
def test_broken_encoder_is_flagged_by_its_rule(registry, name):
    """Its own check plus the fast ones (the whole suite per model is the slow test below)."""
    check, status = broken.EXPECTED[name]
    report = run_checks(f"torch/{name}", registry=registry, checks=sorted({check, *FAST}))
    assert_flags_only(report, check, status)
    assert report.ok is (status != "fail")


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(broken.EXPECTED))
def test_broken_encoder_is_flagged_by_its_rule_only(registry, name):
    check, status = broken.EXPECTED[name]
    assert_flags_only(run_checks(f"torch/{name}", registry=registry), check, status)


def test_failure_messages_name_rule_inputs_and_values(registry):
    r = run_checks("torch/cf-ignores-mask", registry=registry, checks=["padding_mask"]).result("padding_mask")
    assert "padding_mask=True" in r.message and "real length" in r.message and "max |diff|" in r.message
    assert r.measured["padded tokens changed"] > r.measured["tolerance"]
    r = run_checks("torch/cf-claims-linear", registry=registry, checks=["complexity"]).result("complexity")
    assert "declares linear" in r.message and "L=256" in r.message and "L=1024" in r.message
    assert r.measured["exponent"] > r.measured["limit"]


def test_expected_failures_are_listed_with_their_reason(registry):
    report = run_checks("torch/cf-xfail-declared", registry=registry, checks=["padding_mask"])
    assert report.ok
    assert report.to_dict()["expected_failures"] == {"padding_mask": "attends to padding (known, tracked in issue 99)"}
    assert "[declared: attends to padding" in report.to_table()
    # A test suite may add its own declarations (as sklearn's expected_failed_checks).
    extra = run_checks("torch/cf-causal", registry=registry, checks=["bidirectional"],
                       expected_failures={"bidirectional": "causal by design"})
    assert extra.ok and extra.result("bidirectional").status == "expected-failure"


def test_a_model_card_object_can_be_checked_directly(registry):
    report = run_checks(broken.CARDS[0], registry=registry, checks=["card_valid", "output_contract"])
    assert report.model == "torch/cf-ok" and report.ok


def test_parameter_budget_at_a_task_config_for_lra_run(registry):
    from lra_conformance import check_parameter_budget
    from lra_core import EncoderConfig

    config = EncoderConfig(d_model=64, qkv_dim=64, mlp_dim=128, num_heads=2, num_layers=2)
    r = check_parameter_budget("torch/cf-oversized", config, registry=registry, max_length=256)
    assert r.status == "warn" and r.measured["ratio"] > 1.1 and "d_model=64" in r.message
    assert check_parameter_budget("torch/cf-ok", config, registry=registry).status == "pass"
